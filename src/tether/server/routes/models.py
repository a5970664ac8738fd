"""``/v1/systems``: the inventory, model versions, alias history and moves, gates.

Promotion and rollback are governed exactly as in the SDK (``tether.models``): the
gates run, and the pipeline decides ``set_alias`` for the token's actor. A refusal
comes back through the one error mapping: ``GateFailed`` and ``ActionDenied`` are
403; ``ApprovalRequired`` is 403 with the ``approval_id`` to have approved and send
back in ``approval_id``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from tether.core import Tether
from tether.registry import AliasMove, ModelVersion, System
from tether.server._access import check_change
from tether.server._auth import allow, check_scope, get_tether
from tether.server._pages import Cursor, Limit, page
from tether.server._schemas import MAX_VERSION, NAME_PATTERN, Promotion, Rollback, errors
from tether.server._tokens import ROLES, Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/systems", tags=["systems"], responses=errors(400, 401, 403, 404, 409, 413, 422, 503)
)

MOVE_ROLES = ("admin", "owner")
SystemName = Annotated[str, Path(pattern=NAME_PATTERN, description="a system name")]
AliasName = Annotated[str, Path(pattern=NAME_PATTERN, description="an alias, e.g. champion")]
Reader = Annotated[Principal, Depends(allow(*ROLES))]
Mover = Annotated[Principal, Depends(allow(*MOVE_ROLES))]
TetherDep = Annotated[Tether, Depends(get_tether)]


@router.get("")
def list_systems(
    who: Reader, t: TetherDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    """The inventory (the token's systems), by name."""
    items = [render_system(s) for s in t.systems.list() if who.covers(s.name)]
    return page(items, limit, cursor)


@router.get("/{name}/versions")
def list_versions(
    name: SystemName, who: Reader, t: TetherDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    """Every registered version of the system, oldest first.

    Raises:
        NotFound: no such system.
    """
    _system(t, who, name)
    return page([render_version(v) for v in t.models.list(name)], limit, cursor)


@router.get("/{name}/versions/{number}")
def read_version(
    name: SystemName, number: Annotated[int, Path(ge=1, le=MAX_VERSION)], who: Reader, t: TetherDep
) -> dict[str, Any]:
    """One version.

    Raises:
        NotFound: no such system or version.
    """
    _system(t, who, name)
    return render_version(t.models.get(name, number))


@router.get("/{name}/aliases/{alias}/history")
def alias_history(
    name: SystemName,
    alias: AliasName,
    who: Reader,
    t: TetherDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Every move of the alias, oldest first, with actor, reason and evidence.

    Raises:
        NotFound: no such system.
    """
    _system(t, who, name)
    return page([render_move(m) for m in t.models.history(name, alias)], limit, cursor)


@router.post("/{name}/promote")
def promote(name: SystemName, body: Promotion, who: Mover, t: TetherDep) -> dict[str, Any]:
    """Point the alias at the version, as the token's actor, if the gates and the
    policy allow it. An owner token must own the system (docs/server.md).

    Failing gates can be overridden: name ``override_by`` (a person other than the
    token's actor, with role admin or overrider) and a ``justification``. The first call
    opens an override approval (403 ``ApprovalRequired`` with its id); once that
    person approved it, repeat the call with ``approval_id`` and the same fields.

    Raises:
        NotFound: no such system or version.
        Forbidden: the token may not change this system.
        GateFailed: a gate failed (403) and there is no override.
        ApprovalRequired: a person must approve first (403, with ``approval_id``).
        ActionDenied: policy denied the move (403).
        InvalidInput: an override without justification, or by someone who may not.
        Conflict: the alias moved meanwhile.
    """
    _mover(t, who, name)
    move = t.models.promote(name, body.version, actor=who.actor, reason=body.reason,
                            alias=body.alias, approval_id=body.approval_id,
                            override_by=body.override_by,
                            justification=body.justification)  # fmt: skip
    return render_move(move)


@router.post("/{name}/rollback")
def rollback(name: SystemName, body: Rollback, who: Mover, t: TetherDep) -> dict[str, Any]:
    """Move the alias back to its last healthy version, as the token's actor, if the
    policy allows it. An owner token must own the system (docs/server.md).

    Raises:
        NotFound: no such system, or the alias points nowhere.
        Forbidden: the token may not change this system.
        ApprovalRequired: a person must approve first (403, with ``approval_id``).
        ActionDenied: policy denied the move (403).
        Conflict: no earlier healthy version, or the alias moved meanwhile.
    """
    _mover(t, who, name)
    move = t.models.rollback(name, actor=who.actor, reason=body.reason, alias=body.alias,
                             approval_id=body.approval_id)  # fmt: skip
    return render_move(move)


@router.get("/{name}/gates")
def current_gates(name: SystemName, who: Reader, t: TetherDep) -> dict[str, Any]:
    """The system's current gate set (``current`` is null when it has none).

    Raises:
        NotFound: no such system.
    """
    _system(t, who, name)
    found = t.gates.current(name)
    return {"system": name, "current": None if found is None else found.to_dict()}


@router.get("/{name}/gates/versions")
def gate_versions(
    name: SystemName, who: Reader, t: TetherDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    """Every gate-set version of the system, oldest first.

    Raises:
        NotFound: no such system.
    """
    _system(t, who, name)
    return page([g.to_dict() for g in t.gates.history(name)], limit, cursor)


def _system(t: Tether, who: Principal, name: str) -> System:
    """The inventoried system, checked against the token's scope first (so a scoped
    token learns nothing about other systems, not even whether they exist)."""
    check_scope(who, name)
    return t.systems.get(name)


def _mover(t: Tether, who: Principal, name: str) -> System:
    """The system, checked first against the token's scope and, for an owner token,
    against the system's registered owner."""
    found = _system(t, who, name)
    check_change(t, who, name)
    return found


def render_system(s: System) -> dict[str, Any]:
    """The JSON of an inventoried system."""
    return {"name": s.name, "kind": s.kind, "owner": s.owner, "risk_tier": s.risk_tier,
            "purpose": s.purpose, "environments": list(s.environments),
            "ledger_index": s.ledger_index}  # fmt: skip


def render_version(v: ModelVersion) -> dict[str, Any]:
    """The JSON of a model version (without its explanation background rows)."""
    return {
        "system": v.system,
        "version": v.version,
        "digest": v.digest,
        "uri": v.uri,
        "actor": v.actor,
        "registered_at": v.registered_at.isoformat(),
        "data": v.data,
        "code": v.code,
        "environment": v.environment,
        "metrics": dict(v.metrics),
        "parent": v.parent,
        "description": v.description,
        "features": None if v.features is None else list(v.features),
        "ledger_index": v.ledger_index,
    }


def render_move(m: AliasMove) -> dict[str, Any]:
    """The JSON of an alias move."""
    return {"system": m.system, "alias": m.alias, "previous": m.previous, "version": m.version,
            "kind": m.kind, "at": m.at.isoformat(), "actor": m.actor, "reason": m.reason,
            "ledger_index": m.ledger_index, "decision": m.decision,
            "evidence": m.evidence}  # fmt: skip
