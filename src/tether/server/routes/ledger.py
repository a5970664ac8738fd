"""``/v1/ledger``: the latest signed checkpoint, receipts, and a full verification.

Receipts and checkpoints are checkable offline with the log's public key
(``vkey`` in the checkpoint response; ``tether ledger verify-receipt``).
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from tether.core import Tether
from tether.errors import NotFound
from tether.ledger import Checkpoint, verify_ledger
from tether.server._auth import allow, check_scope, get_tether
from tether.server._schemas import MAX_INDEX, errors
from tether.server._tokens import Principal
from tether.store import ledger_repo

__all__ = ["router"]

router = APIRouter(prefix="/v1/ledger", tags=["ledger"], responses=errors(401, 403, 404, 422, 503))

READ_ROLES = ("admin", "auditor", "owner")
VERIFY_ROLES = ("admin", "auditor")
MAX_PROBLEMS = 100


@router.get("/checkpoint")
def checkpoint(
    who: Annotated[Principal, Depends(allow(*READ_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """The latest stored signed checkpoint (its signature checked), and the current
    size of the log (entries after the checkpoint are not covered by it yet).

    Raises:
        NotFound: no checkpoint was signed yet (``tether ledger checkpoint``).
    """
    check_scope(who, None)
    with t.store.read() as conn:
        rows = ledger_repo.checkpoint_rows(conn, latest=True)
    if not rows:
        raise NotFound("no checkpoint was signed yet: run tether ledger checkpoint")
    cp = Checkpoint.open(rows[0].note, t.ledger.verifier)
    root = base64.b64encode(cp.root).decode()
    return {"origin": cp.origin, "size": cp.size, "root": root, "note": cp.note,
            "created_at": rows[0].created_at, "ledger_size": t.ledger.size,
            "vkey": t.ledger.verifier.vkey}  # fmt: skip


@router.get("/receipts/{index}")
def receipt(
    index: Annotated[int, Path(ge=0, le=MAX_INDEX)],
    who: Annotated[Principal, Depends(allow(*READ_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """The offline-verifiable receipt of entry ``index`` (a decision's is its
    ``ledger_index``); signs a checkpoint first when none covers the entry yet.

    A token scoped to systems gets receipts of its systems' decisions only.

    Raises:
        NotFound: no such entry.
    """
    entry = t.ledger.get(index)
    payload = entry.payload if isinstance(entry.payload, dict) else {}
    system = payload.get("system") if entry.kind == "decision" else None
    check_scope(who, system if isinstance(system, str) else None)
    return t.ledger.receipt(index).to_dict()


@router.get("/verify")
def verify(
    who: Annotated[Principal, Depends(allow(*VERIFY_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Verify the whole ledger now: every entry, Merkle node and signed checkpoint.

    This reads the entire log (seconds per million entries, with worker processes
    on big logs) on each call; poll it sparingly.
    """
    check_scope(who, None)
    report = verify_ledger(t.store, t.ledger.verifier)
    return {
        "ok": report.ok,
        "summary": report.summary(),
        "size": report.size,
        "entries_checked": report.entries_checked,
        "nodes_checked": report.nodes_checked,
        "checkpoints_checked": report.checkpoints_checked,
        "first_bad_index": report.first_bad_index,
        "problems": [{"index": p.index, "message": p.message}
                     for p in report.problems[:MAX_PROBLEMS]],
    }  # fmt: skip
