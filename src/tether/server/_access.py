"""Per-system authorisation: on top of a token's role and scope, what it may do to *this*
system or approval, from the inventory and the actor registry.

The rules (docs/server.md, "Per-system authorisation"), all fail-closed:

- every token: its system scope must cover the system (:func:`check_scope`);
- ``owner``: may change a system (vote, override, promote, roll back, trip and reset
  its breakers) only when the system's registered owner (``t.systems``) is the token's
  actor or one of the actor's roles (a team the actor belongs to). A token's scope
  narrows what it reaches; it never grants ownership. An unregistered system has no
  owner, so no owner token may change it;
- ``approver``: may vote on (or override) an approval only when the risk tier of its
  system is in the actor's ``approve_tiers`` attribute (``t.actors``, e.g.
  ``{"approve_tiers": ["minimal", "limited"]}``). No attribute, an unregistered system
  or an unknown tier: refused;
- ``agent``: never votes or overrides, whatever else is true;
- ``admin``: no further check here.

The approvals service still applies its own checks afterwards (an eligible approver by
role, people only, no self-approval); this module only ever refuses more.
"""

from __future__ import annotations

from collections.abc import Sequence

from tether.approvals import Approval
from tether.core import Tether
from tether.registry import System
from tether.server._auth import check_scope
from tether.server._errors import Forbidden
from tether.server._tokens import Principal

__all__ = ["APPROVE_TIERS", "can_vote", "check_change", "check_vote", "owns"]

APPROVE_TIERS = "approve_tiers"
"""The actor attribute listing the risk tiers an approver token may approve."""


def owns(t: Tether, actor: str, system: System) -> bool:
    """True when ``system``'s registered owner is ``actor`` or one of its roles.

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.actors.register("user:ann", kind="human", roles=["credit"], actor="admin")
        >>> s = t.systems.register("loan-model", kind="model", owner="credit",
        ...                        risk_tier="high", actor="admin")
        >>> owns(t, "user:ann", s), owns(t, "user:bob", s)
        (True, False)
        >>> t.close()
    """
    person = t.actors.find(actor)
    if person is None or not person.active:
        return False
    return system.owner == person.id or system.owner in person.roles


def check_change(t: Tether, who: Principal, system: str | None) -> None:
    """Refuse a token that may not change ``system`` (None: a resource of no system,
    such as an agent's breaker, which an owner token may not change).

    Raises:
        Forbidden: out of the token's scope, or an owner token for a system its actor
            does not own.
    """
    check_scope(who, system)
    if who.role != "owner":
        return
    if system is None:
        raise Forbidden("an owner token changes only systems its actor owns; this is no system's")
    found = t.systems.find(system)
    if found is None:
        raise Forbidden(
            f"system {system!r} is not registered, so it has no owner: an owner token "
            "changes only systems whose registered owner is its actor (or the actor's team)"
        )
    if not owns(t, who.actor, found):
        raise Forbidden(
            f"system {system!r} is owned by {found.owner!r}, not by {who.actor!r} or its "
            "roles: use a token of the owner, or ask an admin"
        )


def check_vote(t: Tether, who: Principal, approval: Approval) -> None:
    """Refuse a token that may not vote on or override ``approval`` (see the module).

    Raises:
        Forbidden: an agent token; out of scope; an owner token for a system its actor
            does not own; an approver token whose actor may not approve that risk tier.
    """
    reason = _refusal(t, who, approval)
    if reason is not None:
        raise Forbidden(reason)


def can_vote(t: Tether, who: Principal, approval: Approval) -> bool:
    """True when :func:`check_vote` would admit the token (the inbox shows only those)."""
    return _refusal(t, who, approval) is None


def _refusal(t: Tether, who: Principal, approval: Approval) -> str | None:
    if who.role == "agent":
        return "an agent token can never approve, reject or override"
    if not who.covers(approval.system):
        scope = ", ".join(who.systems or ())
        return f"the token is scoped to {scope}, not system {approval.system!r}"
    if who.role == "owner":
        try:
            check_change(t, who, approval.system)
        except Forbidden as exc:
            return str(exc)
        return None
    if who.role != "approver":
        return None
    found = t.systems.find(approval.system)
    if found is None:
        return (
            f"system {approval.system!r} is not registered, so its risk tier is unknown: "
            "an approver token approves only tiers its actor may approve"
        )
    tiers = _tiers(t, who.actor)
    if found.risk_tier not in tiers:
        allowed = ", ".join(tiers) if tiers else "none"
        return (
            f"system {approval.system!r} is risk tier {found.risk_tier!r}; {who.actor!r} may "
            f"approve tiers: {allowed}; an admin sets them in the actor's attributes: tether "
            f"actors register {who.actor} --attributes '{{\"{APPROVE_TIERS}\": [...]}}'"
        )
    return None


def _tiers(t: Tether, actor: str) -> Sequence[str]:
    person = t.actors.find(actor)
    value = None if person is None else person.attributes.get(APPROVE_TIERS)
    if not isinstance(value, list | tuple):
        return ()
    return tuple(v for v in value if isinstance(v, str))
