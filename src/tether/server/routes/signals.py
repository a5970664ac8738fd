"""``/v1/signals``: the active monitoring signals (drift, performance, anomalies, ...)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tether.core import Tether
from tether.server._auth import allow, check_scope, get_tether
from tether.server._pages import Cursor, Limit, page
from tether.server._schemas import NAME_PATTERN, errors
from tether.server._tokens import ROLES, Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1/signals", tags=["signals"], responses=errors(401, 403, 422, 503))

SystemFilter = Annotated[
    str | None, Query(pattern=NAME_PATTERN, description="only this system's signals")
]


@router.get("")
def active(
    who: Annotated[Principal, Depends(allow(*ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
    system: SystemFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Active (not cleared) signals, newest first: of ``system``, or of every system
    in the token's scope."""
    if system is not None:
        check_scope(who, system)
    items = [render(row) for row in t.signals.active(system) if who.covers(str(row["system"]))]
    return page(items, limit, cursor)


def render(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON of an active signal (``raised_at`` in seconds since the epoch)."""
    keys = ("key", "system", "kind", "feature", "statistic", "severity", "value", "threshold",
            "raised_at", "ledger_index")  # fmt: skip
    return {k: row[k] for k in keys}
