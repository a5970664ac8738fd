"""``/v1/breakers``: list, trip (the kill switch) and reset, with a reason."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from tether.core import Tether
from tether.server._access import check_change
from tether.server._auth import allow, get_tether
from tether.server._pages import Cursor, Limit, page
from tether.server._schemas import BreakerChange, errors
from tether.server._tokens import Principal
from tether.store.breaker_repo import BreakerRow

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/breakers", tags=["breakers"], responses=errors(400, 401, 403, 409, 413, 422, 503)
)

READ_ROLES = ("admin", "auditor", "owner", "operator")
WRITE_ROLES = ("admin", "owner", "operator")
KEY_PATTERN = r"^(system|action|agent):[A-Za-z0-9_][A-Za-z0-9_.:/@-]{0,399}$"
Key = Annotated[str, Path(pattern=KEY_PATTERN, description="system:S, action:S/A or agent:ID")]


@router.get("")
def list_(
    who: Annotated[Principal, Depends(allow(*READ_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Every breaker that ever tripped (those of the token's systems), by key."""
    rows = [render(r) for r in t.breakers.list() if covered(t, who, r.key)]
    return page(rows, limit, cursor)


@router.post("/{key:path}/trip")
def trip(
    key: Key,
    body: BreakerChange,
    who: Annotated[Principal, Depends(allow(*WRITE_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Open a breaker by hand (the kill switch); it stays open until reset.

    Raises:
        InvalidInput: a malformed key, or the actor may not trip breakers.
    """
    check_key(t, who, key)
    t.breakers.trip(key, actor=who.actor, reason=body.reason)
    return render(t.breakers.state(key))


@router.post("/{key:path}/reset")
def reset(
    key: Key,
    body: BreakerChange,
    who: Annotated[Principal, Depends(allow(*WRITE_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Close a breaker (people only).

    Raises:
        InvalidInput: a malformed key, or the actor may not reset breakers.
    """
    check_key(t, who, key)
    t.breakers.reset(key, actor=who.actor, reason=body.reason)
    return render(t.breakers.state(key))


def systems_of(t: Tether, key: str) -> tuple[str, ...] | None:
    """The systems a breaker key may belong to (None for an agent's breaker).

    System and action names may both contain ``/``, so ``action:team/loans/predict`` is
    action ``loans/predict`` of ``team`` or action ``predict`` of ``team/loans``: every
    reading that names a registered system counts (all readings when none does), and
    whoever changes or sees the breaker must be entitled to each (fail closed).

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> systems_of(t, "action:pay/refund"), systems_of(t, "agent:bot")
        (('pay',), None)
        >>> systems_of(t, "action:team/loans/predict")
        ('team', 'team/loans')
        >>> t.close()
    """
    kind, _, rest = key.partition(":")
    if kind == "system":
        return (rest,)
    if kind != "action":
        return None
    readings = tuple(rest[:i] for i, c in enumerate(rest) if c == "/" and i > 0)
    known = tuple(s for s in readings if t.systems.find(s) is not None)
    return known or readings


def check_key(t: Tether, who: Principal, key: str) -> None:
    """Refuse a principal that may not change the breaker ``key`` (scope, ownership).

    Raises:
        Forbidden: see :func:`tether.server._access.check_change`, for every system the
            key may belong to.
    """
    systems = systems_of(t, key)
    for system in systems if systems else (None,):
        check_change(t, who, system)


def covered(t: Tether, who: Principal, key: str) -> bool:
    """True when ``who``'s scope covers every system the breaker may belong to (an
    agent's breaker spans systems: only an unscoped principal sees it)."""
    if who.systems is None:
        return True
    systems = systems_of(t, key)
    return bool(systems) and all(who.covers(s) for s in systems or ())


def render(r: BreakerRow) -> dict[str, Any]:
    """The JSON of a breaker."""
    return {"key": r.key, "state": r.state, "manual": r.manual, "opened_at": r.opened_at,
            "reason": r.reason, "updated_at": r.updated_at}  # fmt: skip
