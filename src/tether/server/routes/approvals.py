"""``/v1/approvals``: the inbox, approve and reject (by the token's actor)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from tether.approvals import Approval
from tether.core import Tether
from tether.server._auth import allow, check_scope, get_tether
from tether.server._pages import Cursor, Limit, page
from tether.server._schemas import ID_PATTERN, ApprovalVote
from tether.server._tokens import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1/approvals", tags=["approvals"])

READ_ROLES = ("admin", "auditor", "owner", "approver")
VOTE_ROLES = ("admin", "owner", "approver")
ApprovalId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.get("")
def inbox(
    who: Annotated[Principal, Depends(allow(*READ_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Open approvals: for an approver or owner, those its actor may vote on now; for
    an admin or auditor, every open one. Only systems in the token's scope."""
    if who.role in ("admin", "auditor"):
        found = t.approvals.list(limit=10_000)
    else:
        found = t.approvals.inbox(who.actor)
    items = [render(a) for a in found if who.covers(a.system)]
    return page(items, limit, cursor)


@router.get("/{approval_id}")
def read(
    approval_id: ApprovalId,
    who: Annotated[Principal, Depends(allow(*READ_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """One approval with its votes.

    Raises:
        NotFound: no such approval.
    """
    found = t.approvals.get(approval_id)
    check_scope(who, found.system)
    return render(found)


@router.post("/{approval_id}/approve")
def approve(
    approval_id: ApprovalId,
    body: ApprovalVote,
    who: Annotated[Principal, Depends(allow(*VOTE_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Vote to approve as the token's actor (no self-approval; people only).

    Raises:
        NotFound: no such approval.
        InvalidInput: the actor may not vote on it, or it is resolved.
    """
    check_scope(who, t.approvals.get(approval_id).system)
    return render(t.approvals.approve(approval_id, approver=who.actor, comment=body.comment))


@router.post("/{approval_id}/reject")
def reject(
    approval_id: ApprovalId,
    body: ApprovalVote,
    who: Annotated[Principal, Depends(allow(*VOTE_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Reject as the token's actor; the comment (why) is required.

    Raises:
        NotFound: no such approval.
        InvalidInput: no comment, or the actor may not vote on it.
    """
    check_scope(who, t.approvals.get(approval_id).system)
    return render(t.approvals.reject(approval_id, approver=who.actor, comment=body.comment))


def render(a: Approval) -> dict[str, Any]:
    """The JSON of an approval."""
    return {
        "id": a.id,
        "decision_id": a.decision_id,
        "system": a.system,
        "action": a.action,
        "requester": a.requester,
        "state": a.state,
        "level": a.level,
        "reason": a.reason,
        "request": a.request,
        "deadline": a.deadline,
        "created_at": a.created_at,
        "resolved_at": a.resolved_at,
        "votes": list(a.votes),
        "needed": a.needed() if a.open else [],
        "ledger_index": a.ledger_index,
    }
