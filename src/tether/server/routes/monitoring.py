"""``/v1/monitoring``: the recorded monitoring checks of a system (drift, data quality,
anomalies per window), as ``t.monitor.check`` / ``tether monitor watch`` wrote them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from tether.core import Tether
from tether.server._auth import allow, check_scope, get_tether
from tether.server._pages import Cursor, Limit, decode_key, encode_key
from tether.server._schemas import NAME_PATTERN, errors
from tether.server._tokens import ROLES, Principal
from tether.store import monitor_repo

__all__ = ["ChecksPage", "router"]

router = APIRouter(
    prefix="/v1/monitoring", tags=["monitoring"], responses=errors(401, 403, 422, 503)
)


class Check(BaseModel):
    """One recorded check: its ledger entry and report (None once erased)."""

    ledger_index: int
    checked_at: str = Field(description="when the check ran (ISO-8601, UTC)")
    report: dict[str, Any] | None = Field(
        description="the monitor.check entry's payload: the window, drift per feature "
        "against its thresholds, quality findings, anomalies, the signals raised"
    )


class ChecksPage(BaseModel):
    """A page of recorded checks, newest first."""

    items: list[Check]
    next: str | None = Field(description="the cursor of the next (older) page; null at the end")


@router.get("/{system}/checks", response_model=ChecksPage)
def checks(
    system: Annotated[str, Path(pattern=NAME_PATTERN)],
    who: Annotated[Principal, Depends(allow(*ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The system's recorded monitoring checks, newest first (an empty page for a
    system never checked). Pass ``next`` as ``cursor`` for older ones.

    Raises:
        Forbidden: ``system`` is outside the token's scope.
        InvalidInput: a bad cursor.
    """
    check_scope(who, system)
    with t.store.read() as conn:
        rows = monitor_repo.checks(conn, system, last=limit + 1, before=decode_key(cursor))
    rows.reverse()  # newest first
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {"ledger_index": r.ledger_index,
         "checked_at": datetime.fromtimestamp(r.checked_at, UTC).isoformat(),
         "report": None if r.payload is None else orjson.loads(r.payload)}
        for r in rows
    ]  # fmt: skip
    return {"items": items, "next": encode_key(rows[-1].ledger_index) if more else None}
