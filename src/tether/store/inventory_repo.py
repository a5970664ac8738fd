"""Repository of the inventory: systems and actors (projections of ledger entries)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, select

from tether.store._rows import row_dict
from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import actors, systems

__all__ = ["actor_row", "actor_rows", "put_actor", "put_system", "system_row", "system_rows"]

_PUT_SYSTEM = (
    "INSERT INTO systems (name, kind, owner, risk_tier, purpose, environments, created_at, "
    "updated_at, ledger_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, owner = excluded.owner, "
    "risk_tier = excluded.risk_tier, purpose = excluded.purpose, "
    "environments = excluded.environments, updated_at = excluded.updated_at, "
    "ledger_index = excluded.ledger_index"
)
_PUT_ACTOR = (
    "INSERT INTO actors (id, kind, roles, attributes, active, created_at, updated_at, "
    "ledger_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, roles = excluded.roles, "
    "attributes = excluded.attributes, active = excluded.active, "
    "updated_at = excluded.updated_at, ledger_index = excluded.ledger_index"
)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def put_system(
    name: str,
    kind: str,
    owner: str,
    risk_tier: str,
    purpose: str,
    environments: Sequence[str],
    now: float,
) -> Mutation:
    """Insert or update a system, stamped with the index of the entry recording it."""
    params = (name, kind, owner, risk_tier, purpose, _json(list(environments)), now, now)
    return Mutation((Statement(_PUT_SYSTEM, (*params, ENTRY_INDEX)),))


def put_actor(
    actor_id: str,
    kind: str,
    roles: Sequence[str],
    attributes: Mapping[str, Any],
    active: bool,
    now: float,
) -> Mutation:
    """Insert or update an actor."""
    params = (actor_id, kind, _json(list(roles)), _json(dict(attributes)), int(active), now, now)
    return Mutation((Statement(_PUT_ACTOR, (*params, ENTRY_INDEX)),))


def _system(row: Any) -> dict[str, Any]:
    d = row_dict(row)
    d["environments"] = tuple(orjson.loads(d["environments"]))
    return d


def _actor(row: Any) -> dict[str, Any]:
    d = row_dict(row)
    d["roles"] = tuple(orjson.loads(d["roles"]))
    d["attributes"] = orjson.loads(d["attributes"])
    d["active"] = bool(d["active"])
    return d


def system_row(conn: Connection, name: str) -> dict[str, Any] | None:
    """One system as a dict of its columns, or None."""
    row = conn.execute(select(systems).where(systems.c.name == name)).first()
    return None if row is None else _system(row)


def system_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every system, by name."""
    return [_system(r) for r in conn.execute(select(systems).order_by(systems.c.name))]


def actor_row(conn: Connection, actor_id: str) -> dict[str, Any] | None:
    """One actor as a dict of its columns, or None."""
    row = conn.execute(select(actors).where(actors.c.id == actor_id)).first()
    return None if row is None else _actor(row)


def actor_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every actor, by id."""
    return [_actor(r) for r in conn.execute(select(actors).order_by(actors.c.id))]
