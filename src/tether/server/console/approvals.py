"""Console pages: the approvals inbox and one approval with approve / reject / override.

``/console/approvals`` is the user's inbox: the open approvals its actor may vote on
now (``t.approvals.inbox``); an admin or auditor sees every open one. Each shows what
is asked, by whom, why the rule fired, the AI's proposal, the escalation state and the
deadline. ``/console/approvals/{id}`` adds the votes and three forms, each needing a
written justification and the session's CSRF token; a vote goes through the SDK as the
user's actor (the SDK refuses self-approval, agents and people without a required
role: the page shows its message and nothing is written), then redirects back
(POST-redirect-GET) with the result.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from tether.approvals import Approval
from tether.core import Tether
from tether.errors import Conflict, InvalidInput
from tether.server._access import can_vote, check_vote
from tether.server._auth import get_tether
from tether.server._schemas import ID_PATTERN
from tether.server._tokens import Principal
from tether.server.console._session import CsrfChecked, CurrentUser, check_system, require
from tether.server.console._web import redirect, render

__all__ = [
    "ALL_ROLES",
    "MIN_JUSTIFICATION",
    "READ_ROLES",
    "VOTE_ROLES",
    "remaining",
    "router",
]

router = APIRouter(prefix="/console", include_in_schema=False)

READ_ROLES = ("admin", "auditor", "owner", "approver")
"""Console roles that see approvals."""
VOTE_ROLES = ("admin", "owner", "approver")
"""Console roles that may approve, reject or override (the SDK checks the person too)."""
ALL_ROLES = ("admin", "auditor")
"""Roles whose inbox is every open approval, not only those they may vote on."""
MIN_JUSTIFICATION = 10
"""Characters a justification needs at least (the SDK's minimum for an override)."""
INBOX_LIMIT = 500
REMINDER = (
    "Check the inputs yourself; do not approve just because the AI proposed it. "
    "You are accountable for this decision."
)

_NO_FORM = {"choice": "", "justification": "", "verdict": ""}

TetherDep = Annotated[Tether, Depends(get_tether)]
ApprovalId = Annotated[str, Path(pattern=ID_PATTERN)]
Justification = Annotated[str, Form(max_length=4000)]


def remaining(deadline: float | None, now: float) -> str:
    """How long until ``deadline``, in words.

    Example:
        >>> remaining(1000.0 + 2 * 3600 + 300, 1000.0), remaining(900.0, 1000.0)
        ('in 2 h 5 min', 'overdue')
        >>> remaining(None, 0.0)
        'no deadline'
    """
    if deadline is None:
        return "no deadline"
    left = int(deadline - now)
    if left <= 0:
        return "overdue"
    if left < 60:
        return f"in {left} s"
    hours, minutes = divmod(left // 60, 60)
    if not hours:
        return f"in {minutes} min"
    return f"in {hours} h {minutes} min" if minutes else f"in {hours} h"


def _rules(a: Approval) -> list[dict[str, Any]]:
    """Per rule: its id, and the roles and count it needs at the approval's level."""
    out = []
    for r in a.requirements.get("rules", []):
        levels = r.get("levels", [])
        level = levels[min(a.level, len(levels) - 1)] if levels else {}
        out.append({"rule": r.get("rule", "?"), "roles": level.get("roles", []),
                    "count": level.get("count", 1), "escalates": len(levels) > 1})  # fmt: skip
    return out


def _view(a: Approval, now: float) -> dict[str, Any]:
    """What the templates show of an approval."""
    request = a.request if isinstance(a.request, dict) else {}
    action = request.get("action")
    proposal = action.get("args") if isinstance(action, dict) else None
    return {
        "a": a, "rules": _rules(a), "proposal": proposal, "context": request.get("context"),
        "remaining": remaining(a.deadline, now), "escalated": a.state == "escalated",
    }  # fmt: skip


@router.get("/approvals", response_class=HTMLResponse)
def inbox(request: Request, user: CurrentUser, t: TetherDep) -> Response:
    """The user's inbox (every open approval for an admin or auditor), newest first.

    Raises:
        Forbidden: the user's role does not see approvals.
    """
    require(user, *READ_ROLES)
    if user.role in ALL_ROLES:
        found = t.approvals.list(limit=INBOX_LIMIT)
    else:
        # what the API's inbox shows too: only approvals this user may vote on
        found = [a for a in t.approvals.inbox(user.actor) if can_vote(t, user, a)]
    now = t.clock.now().timestamp()
    items = [_view(a, now) for a in found if user.covers(a.system)]
    return render(request, "approvals.html", user, nav="approvals", items=items,
                  everyone=user.role in ALL_ROLES)  # fmt: skip


def _get(t: Tether, user: Principal, approval_id: str) -> Approval:
    a = t.approvals.get(approval_id)
    check_system(user, a.system)
    return a


def _result(choice: str, a: Approval) -> str:
    """The message shown after a vote, from the approval as the vote left it."""
    if choice == "approve":
        if a.state == "approved":
            return (f"Approved. The requester may now run the action once, sending back "
                    f"approval id {a.id}.")  # fmt: skip
        return "Your approval is recorded; more approvers are still needed."
    if choice == "reject":
        return "Rejected. The action will not run."
    how = "approved" if a.state == "overridden" else a.state
    return f"Override recorded with your justification: the request is now {how}."


def _detail(
    request: Request, user: Principal, t: Tether, a: Approval, *, error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    now = t.clock.now().timestamp()
    return render(
        request, "approval.html", user, nav="approvals", error=error,
        form=form or _NO_FORM, can_vote=user.role in VOTE_ROLES and a.open,
        can_override=user.role in VOTE_ROLES and a.state not in ("consumed", "overridden"),
        reminder=REMINDER, min_justification=MIN_JUSTIFICATION, **_view(a, now),
    )  # fmt: skip


@router.get("/approvals/{approval_id}", response_class=HTMLResponse)
def detail(
    request: Request,
    approval_id: ApprovalId,
    user: CurrentUser,
    t: TetherDep,
) -> Response:
    """One approval, its votes and (for voters) the approve / reject / override forms.

    Raises:
        NotFound: no such approval.
        Forbidden: the user's role or scope does not cover it.
    """
    require(user, *READ_ROLES)
    a = _get(t, user, approval_id)
    return _detail(request, user, t, a)


def _act(
    request: Request, user: Principal, t: Tether, approval_id: str, choice: str,
    justification: str, verdict: str = "approve",
) -> Response:  # fmt: skip
    """Vote through the SDK as the user's actor; on a refusal show why (nothing written)."""
    require(user, *VOTE_ROLES)
    a = _get(t, user, approval_id)
    check_vote(t, user, a)  # the API's per-system rules: ownership, risk tiers, no agents
    try:
        if len(justification.strip()) < MIN_JUSTIFICATION:
            raise InvalidInput(
                f"write a justification of at least {MIN_JUSTIFICATION} characters: what you "
                "checked and why you decide so"
            )
        if choice == "approve":
            a = t.approvals.approve(a.id, approver=user.actor, comment=justification.strip())
        elif choice == "reject":
            a = t.approvals.reject(a.id, approver=user.actor, comment=justification.strip())
        else:
            if verdict not in ("approve", "reject"):
                raise InvalidInput(f"override verdict {verdict[:20]!r} must be approve or reject")
            a = t.approvals.override(a.id, actor=user.actor, justification=justification.strip(),
                                     approve=verdict == "approve")  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        form = {"choice": choice, "justification": justification, "verdict": verdict}
        response = _detail(request, user, t, t.approvals.get(a.id), error=str(exc), form=form)
        response.status_code = 409 if isinstance(exc, Conflict) else 422
        return response
    return redirect(f"/console/approvals/{a.id}", flash=_result(choice, a))


@router.post("/approvals/{approval_id}/approve")
def approve(
    request: Request,
    approval_id: ApprovalId,
    user: CurrentUser,
    _: CsrfChecked,
    t: TetherDep,
    justification: Justification = "",
) -> Response:
    """Approve as the user's actor, with a justification.

    Raises:
        NotFound: no such approval.
        Forbidden: the user's role or scope does not cover it.
    """
    return _act(request, user, t, approval_id, "approve", justification)


@router.post("/approvals/{approval_id}/reject")
def reject(
    request: Request,
    approval_id: ApprovalId,
    user: CurrentUser,
    _: CsrfChecked,
    t: TetherDep,
    justification: Justification = "",
) -> Response:
    """Reject as the user's actor, with a justification (the action never runs).

    Raises:
        NotFound: no such approval.
        Forbidden: the user's role or scope does not cover it.
    """
    return _act(request, user, t, approval_id, "reject", justification)


@router.post("/approvals/{approval_id}/override")
def override(
    request: Request,
    approval_id: ApprovalId,
    user: CurrentUser,
    _: CsrfChecked,
    t: TetherDep,
    justification: Justification = "",
    verdict: Annotated[str, Form(max_length=20)] = "approve",
) -> Response:
    """Override the approval process (approve or reject whatever its state), with a
    justification; the SDK admits people with the registry role admin or overrider.

    Raises:
        NotFound: no such approval.
        Forbidden: the user's role or scope does not cover it.
    """
    return _act(request, user, t, approval_id, "override", justification, verdict)
