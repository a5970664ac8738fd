"""``/v1/approvals``: the inbox, approve, reject and override (by the token's actor),
under per-system authorisation (``_access.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from tether.approvals import Approval
from tether.core import Tether
from tether.server._access import can_vote, check_vote
from tether.server._auth import allow, check_scope, get_tether
from tether.server._pages import Cursor, Limit, page
from tether.server._schemas import ID_PATTERN, ApprovalOverride, ApprovalVote, errors
from tether.server._tokens import Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/approvals",
    tags=["approvals"],
    responses=errors(400, 401, 403, 404, 409, 413, 422, 503),
)

READ_ROLES = ("admin", "auditor", "owner", "approver")
VOTE_ROLES = ("admin", "owner", "approver")
OVERRIDE_ROLES = ("admin", "owner", "approver")  # the service also needs admin or overrider
ApprovalId = Annotated[str, Path(pattern=ID_PATTERN)]


Mine = Annotated[
    bool,
    Query(description="only what the token's actor may vote on now (its inbox)"),
]


@router.get("")
def inbox(
    who: Annotated[Principal, Depends(allow(*READ_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
    mine: Mine = False,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Open approvals of the token's systems. An approver or owner token (or any token
    with ``mine=true``) gets its actor's inbox: what it may vote on now, by the
    approvals service's rules and per-system authorisation. Admin and auditor tokens
    get every open approval without ``mine``; ``mine=true`` for an auditor is empty."""
    if who.role in ("admin", "auditor") and not mine:
        found = [a for a in t.approvals.list(limit=10_000) if who.covers(a.system)]
    elif who.role not in VOTE_ROLES:
        found = []
    else:
        found = [a for a in t.approvals.inbox(who.actor) if can_vote(t, who, a)]
    return page([render(a) for a in found], limit, cursor)


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
        Forbidden: per-system authorisation refuses the token (docs/server.md).
        InvalidInput: the actor may not vote on it, or it is resolved.
    """
    check_vote(t, who, t.approvals.get(approval_id))
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
        Forbidden: per-system authorisation refuses the token (docs/server.md).
        InvalidInput: no comment, or the actor may not vote on it.
    """
    check_vote(t, who, t.approvals.get(approval_id))
    return render(t.approvals.reject(approval_id, approver=who.actor, comment=body.comment))


@router.post("/{approval_id}/override")
def override(
    approval_id: ApprovalId,
    body: ApprovalOverride,
    who: Annotated[Principal, Depends(allow(*OVERRIDE_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Override the approval process as the token's actor (AI Act Art. 14(4)(d)):
    approve (or, with ``approve: false``, reject) whatever state it is in, with the
    justification on the record (an ``approval.overridden`` ledger entry).

    Raises:
        NotFound: no such approval.
        Forbidden: per-system authorisation refuses the token (docs/server.md).
        InvalidInput: the actor is not a person with role admin or overrider, is the
            requester (no self-approval), or the approval was already used.
    """
    check_vote(t, who, t.approvals.get(approval_id))
    return render(t.approvals.override(approval_id, actor=who.actor,
                                       justification=body.justification,
                                       approve=body.approve))  # fmt: skip


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
