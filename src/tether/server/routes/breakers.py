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
    rows = [render(r) for r in t.breakers.list() if _covered(who, r.key)]
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
    check_change(t, who, system_of(key))
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
    check_change(t, who, system_of(key))
    t.breakers.reset(key, actor=who.actor, reason=body.reason)
    return render(t.breakers.state(key))


def system_of(key: str) -> str | None:
    """The system a breaker key belongs to (None for an agent's breaker).

    Example:
        >>> system_of("action:pay/refund"), system_of("agent:bot")
        ('pay', None)
    """
    kind, _, rest = key.partition(":")
    if kind == "system":
        return rest
    if kind == "action":
        return rest.split("/", 1)[0]
    return None


def _covered(who: Principal, key: str) -> bool:
    system = system_of(key)
    return who.systems is None or (system is not None and who.covers(system))


def render(r: BreakerRow) -> dict[str, Any]:
    """The JSON of a breaker."""
    return {"key": r.key, "state": r.state, "manual": r.manual, "opened_at": r.opened_at,
            "reason": r.reason, "updated_at": r.updated_at}  # fmt: skip
