"""The inventory: the AI systems tether governs and the actors that act on them.

Every change is a ledger entry (``system.registered``, ``system.updated``,
``actor.registered``, ``actor.updated``, ``actor.deactivated``) whose projection row
commits in the same transaction.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from tether.errors import InvalidInput, NotFound
from tether.store import inventory_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = ["Actor", "ActorKind", "Actors", "RiskTier", "System", "SystemKind", "Systems"]

SystemKind = Literal["model", "agent", "workflow", "service"]
RiskTier = Literal["minimal", "limited", "high", "prohibited"]
ActorKind = Literal["human", "service", "agent"]
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/@-]{0,199}$")


def _check_name(value: str, what: str) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"{what} {value!r} is not a valid name: use letters, digits and _ . : / @ - "
            "(at most 200 characters, not starting with punctuation)"
        )


def _check_choice(value: str, choices: Any, what: str) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise InvalidInput(f"{what} {value!r} must be one of {', '.join(allowed)}")


@dataclass(frozen=True, slots=True)
class System:
    """An inventoried AI system."""

    name: str
    kind: SystemKind
    owner: str
    risk_tier: RiskTier
    purpose: str = ""
    environments: tuple[str, ...] = ()
    ledger_index: int = -1

    def as_input(self) -> dict[str, Any]:
        """The ``system`` variable policy conditions see."""
        return {
            "name": self.name,
            "kind": self.kind,
            "owner": self.owner,
            "risk_tier": self.risk_tier,
            "environments": list(self.environments),
        }


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a person, a service or an agent, with roles and attributes.

    Policy conditions see ``actor.id``, ``actor.kind``, ``actor.roles`` and every
    attribute (``actor.role``, ``actor.suspended``, ...).
    """

    id: str
    kind: ActorKind
    roles: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    active: bool = True
    ledger_index: int = -1

    def as_input(self) -> dict[str, Any]:
        """The ``actor`` variable policy conditions see."""
        return {**self.attributes, "id": self.id, "kind": self.kind, "roles": list(self.roles)}


class _TTLCache:
    """What this process read, reused for ``ttl`` seconds; its own writes evict."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Any) -> Any:
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = load(key)
        with self._lock:
            self._items[key] = (now, value)
        return value

    def evict(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


class Systems:
    """Register and look up systems (``tether.systems``).

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> s = t.systems.register("loan-model", kind="model", owner="credit-risk",
        ...                        risk_tier="high", actor="user:ana")
        >>> (t.systems.get("loan-model").risk_tier, t.ledger.get(s.ledger_index).kind)
        ('high', 'system.registered')
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self._cache = _TTLCache(tether.settings.cache_seconds)

    def cached(self, name: str) -> System | None:
        """:meth:`find`, reusing what was read in the last ``TETHER_CACHE_SECONDS``."""
        found: System | None = self._cache.get(name, self.find)
        return found

    def register(
        self,
        name: str,
        *,
        kind: SystemKind,
        owner: str,
        risk_tier: RiskTier,
        actor: str,
        purpose: str = "",
        environments: Iterable[str] = (),
    ) -> System:
        """Create or update a system; unchanged details write nothing.

        Raises:
            InvalidInput: a name, kind or tier is not valid.
        """
        _check_name(name, "system name")
        _check_choice(kind, SystemKind, "system kind")
        _check_choice(risk_tier, RiskTier, "risk tier")
        if not owner:
            raise InvalidInput(f"system {name!r} needs an owner (a team or a person)")
        envs = tuple(environments)
        old = self.find(name)
        new = System(name, kind, owner, risk_tier, purpose, envs)
        if old is not None and _same(old, new, ("kind", "owner", "risk_tier", "purpose",
                                                "environments")):  # fmt: skip
            return old
        payload: dict[str, Any] = {
            "name": name, "kind": kind, "owner": owner, "risk_tier": risk_tier,
            "purpose": purpose, "environments": list(envs),
        }  # fmt: skip
        if old is not None:
            payload["previous"] = {"kind": old.kind, "owner": old.owner, "risk_tier": old.risk_tier}
        now = self._t.clock.now().timestamp()
        entry = self._t.ledger.append(
            "system.updated" if old else "system.registered",
            actor,
            payload,
            subject=f"system/{name}",
            mutation=repo.put_system(name, kind, owner, risk_tier, purpose, envs, now),
        )
        self._cache.evict(name)
        return System(name, kind, owner, risk_tier, purpose, envs, entry.index)

    def find(self, name: str) -> System | None:
        """The system called ``name``, or None."""
        with self._t.store.read() as conn:
            row = repo.system_row(conn, name)
        return None if row is None else _to_system(row)

    def get(self, name: str) -> System:
        """The system called ``name``.

        Raises:
            NotFound: no such system.
        """
        found = self.find(name)
        if found is None:
            raise NotFound(f"system {name!r} is not registered: tether.systems.register(...)")
        return found

    def list(self) -> list[System]:
        """Every registered system, by name."""
        with self._t.store.read() as conn:
            return [_to_system(r) for r in repo.system_rows(conn)]


class Actors:
    """Register and look up actors (``tether.actors``).

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> a = t.actors.register("agent:refunds-bot", kind="agent", roles=["support_agent"],
        ...                       attributes={"suspended": False}, actor="user:ana")
        >>> t.actors.get("agent:refunds-bot").as_input()["roles"]
        ['support_agent']
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self._cache = _TTLCache(tether.settings.cache_seconds)

    def cached(self, actor_id: str) -> Actor | None:
        """:meth:`find`, reusing what was read in the last ``TETHER_CACHE_SECONDS``."""
        found: Actor | None = self._cache.get(actor_id, self.find)
        return found

    def register(
        self,
        actor_id: str,
        *,
        kind: ActorKind,
        roles: Iterable[str] = (),
        attributes: Mapping[str, Any] | None = None,
        actor: str,
    ) -> Actor:
        """Create or update an actor (``actor`` is who makes the change).

        Raises:
            InvalidInput: an id, kind or role is not valid, or an attribute shadows
                ``id``, ``kind`` or ``roles``.
        """
        _check_name(actor_id, "actor id")
        _check_choice(kind, ActorKind, "actor kind")
        role_list = tuple(roles)
        for role in role_list:
            _check_name(role, "role")
        attrs = dict(attributes or {})
        clash = {"id", "kind", "roles"} & attrs.keys()
        if clash:
            raise InvalidInput(f"attribute {sorted(clash)[0]!r} is reserved; rename it")
        old = self.find(actor_id)
        # Re-registering never reactivates: that takes reactivate() and a reason.
        new = Actor(actor_id, kind, role_list, attrs, old.active if old is not None else True)
        if old is not None and _same(old, new, ("kind", "roles", "attributes", "active")):
            return old
        return self._write(
            "actor.updated" if old else "actor.registered", actor, new,
            {"id": actor_id, "kind": kind, "roles": list(role_list), "attributes": attrs,
             "active": new.active},
        )  # fmt: skip

    def reactivate(self, actor_id: str, *, actor: str, reason: str) -> Actor:
        """Let a deactivated actor act again.

        Raises:
            NotFound: no such actor.
            InvalidInput: no reason given, or the actor is active.
        """
        if not reason.strip():
            raise InvalidInput("reactivating an actor needs a reason")
        old = self.get(actor_id)
        if old.active:
            raise InvalidInput(f"actor {actor_id!r} is active")
        new = Actor(old.id, old.kind, old.roles, old.attributes, True)
        return self._write("actor.reactivated", actor, new, {"id": actor_id, "reason": reason})

    def deactivate(self, actor_id: str, *, actor: str, reason: str) -> Actor:
        """Stop an actor from acting (every later decision for it is denied).

        Raises:
            NotFound: no such actor.
            InvalidInput: no reason given.
        """
        if not reason.strip():
            raise InvalidInput("deactivating an actor needs a reason")
        old = self.get(actor_id)
        new = Actor(old.id, old.kind, old.roles, old.attributes, False)
        return self._write("actor.deactivated", actor, new, {"id": actor_id, "reason": reason})

    def _write(self, kind: str, actor: str, new: Actor, payload: dict[str, Any]) -> Actor:
        now = self._t.clock.now().timestamp()
        mutation = repo.put_actor(new.id, new.kind, new.roles, new.attributes, new.active, now)
        entry = self._t.ledger.append(
            kind, actor, payload, subject=f"actor/{new.id}", mutation=mutation
        )
        self._cache.evict(new.id)
        return Actor(new.id, new.kind, new.roles, new.attributes, new.active, entry.index)

    def find(self, actor_id: str) -> Actor | None:
        """The actor ``actor_id``, or None."""
        with self._t.store.read() as conn:
            row = repo.actor_row(conn, actor_id)
        return None if row is None else _to_actor(row)

    def get(self, actor_id: str) -> Actor:
        """The actor ``actor_id``.

        Raises:
            NotFound: no such actor.
        """
        found = self.find(actor_id)
        if found is None:
            raise NotFound(f"actor {actor_id!r} is not registered: tether.actors.register(...)")
        return found

    def list(self) -> list[Actor]:
        """Every actor, by id."""
        with self._t.store.read() as conn:
            return [_to_actor(r) for r in repo.actor_rows(conn)]


def _same(old: Any, new: Any, fields: Iterable[str]) -> bool:
    return all(getattr(old, f) == getattr(new, f) for f in fields)


def _to_system(row: Mapping[str, Any]) -> System:
    return System(
        row["name"], row["kind"], row["owner"], row["risk_tier"], row["purpose"],
        row["environments"], int(row["ledger_index"]),
    )  # fmt: skip


def _to_actor(row: Mapping[str, Any]) -> Actor:
    return Actor(
        row["id"], row["kind"], row["roles"], row["attributes"], row["active"],
        int(row["ledger_index"]),
    )  # fmt: skip
