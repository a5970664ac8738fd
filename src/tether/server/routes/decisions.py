"""``/v1/decisions``: ask the pipeline (the actor is the token's), read a decision, and
the decision feed (newest first, filtered, keyset-paged)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tether.core import Tether
from tether.errors import NotFound
from tether.pipeline import Decision, Outcome
from tether.server._auth import allow, check_scope, get_tether
from tether.server._pages import Cursor, Instant, Limit, decode_key, encode_key, time_range
from tether.server._schemas import ID_PATTERN, NAME_PATTERN, DecisionRequest, FeedPage, errors
from tether.server._tokens import ROLES, Principal
from tether.store import decision_repo

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/decisions", tags=["decisions"], responses=errors(400, 401, 403, 413, 422, 503)
)

SUBMIT_ROLES = ("admin", "service", "agent")


class DecisionOut(BaseModel):
    """The answer to ``POST /v1/decisions``: the decision as recorded."""

    id: str
    system: str
    action: str
    actor: str
    effect: str = Field(description="the policy's effect: allow, deny or require_approval")
    outcome: Outcome
    allowed: bool = Field(description="true when the action may run")
    rules: list[str]
    matched: list[str]
    reasons: list[str]
    policy_version: int | None
    approval_id: str | None = Field(
        description="pending_approval: the approval to poll and, once approved, to send back"
    )
    guardrails: list[dict[str, str]]
    ledger_index: int = Field(description="the decision's ledger entry (-1: async durability)")
    retry_after: float | None = Field(description="rate_limited: seconds to wait")
    run_id: str | None


WAIT_POLL = 0.5
"""Seconds between looks at an awaited approval (one resolved in another process)."""

Wait = Annotated[
    float,
    Query(
        ge=0, le=60,
        description="require_approval: seconds to wait for the approval to be resolved "
        "before answering (0: answer at once). Approved: the action is decided again with "
        "the approval, and that decision is the answer; rejected or expired: the denial, "
        "with the approval id; still open after the wait: the pending answer.",
    ),
]  # fmt: skip


@router.post("", response_model=DecisionOut)
async def submit(
    request: Request,
    body: DecisionRequest,
    who: Annotated[Principal, Depends(allow(*SUBMIT_ROLES))],
    wait: Wait = 0.0,
) -> Response:
    """Decide whether the token's actor may do the action, and record the decision.

    A denial is a decision too (200, ``allowed: false``); for ``require_approval``
    the response carries the ``approval_id`` to poll and, once approved, to send back;
    with ``wait`` the server waits that long for people to resolve it.

    The answer comes once the decision is committed to the ledger. The handler is a
    coroutine over the pipeline's async path: no worker thread per request, and the
    requests in flight share group commits.
    """
    t: Tether = request.app.state.tether
    check_scope(who, body.system)
    decision = await _decide(t, body, who.actor, body.approval_id)
    pending = decision.approval_id if decision.outcome == "pending_approval" else None
    if wait > 0 and pending is not None and await _resolved(t, pending, wait):
        decision = await _decide(t, body, who.actor, pending)
    return Response(orjson.dumps(render(decision)), media_type="application/json")


async def _decide(
    t: Tether, body: DecisionRequest, actor: str, approval_id: str | None
) -> Decision:
    if approval_id is None:
        return await t.pipeline.decide_async(
            body.system, body.action, actor=actor, inputs=body.inputs, context=body.context
        )
    # Using an approval appends its approval.consumed entry synchronously: in a worker
    # thread, never on the event loop.
    return await run_in_threadpool(
        t.decide, body.system, body.action, actor=actor, inputs=body.inputs,
        context=body.context, approval_id=approval_id,
    )  # fmt: skip


async def _resolved(t: Tether, approval_id: str, wait: float) -> bool:
    """Wait up to ``wait`` seconds (real time) for the approval to leave pending or
    escalated; True when it did. No thread waits: this process's votes wake the
    coroutine at once (``on_resolved``); a short look every ``WAIT_POLL`` seconds
    (in a worker thread) sees other processes' votes and the deadlines."""
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not woken.done():
            woken.set_result(None)

    def wake(_: Any) -> None:  # called in the thread that resolved it
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            loop.call_soon_threadsafe(settle)

    t.approvals.on_resolved(approval_id, wake)
    deadline = loop.time() + wait
    while True:
        approval = await run_in_threadpool(t.approvals.get, approval_id)
        if not approval.open:
            return True
        left = deadline - loop.time()
        if left <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(woken), min(WAIT_POLL, left))


@router.get("/{decision_id}", responses=errors(404))
def read(
    decision_id: Annotated[str, Path(pattern=ID_PATTERN)],
    who: Annotated[Principal, Depends(allow(*ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """The recorded decision: its ledger record (None once erased) and ledger index.

    Raises:
        NotFound: no such decision.
    """
    with t.store.read() as conn:
        row = decision_repo.entry(conn, decision_id)
    if row is None:
        raise NotFound(f"decision {decision_id!r} does not exist")
    system, outcome, index, payload = row
    check_scope(who, system)
    record = None if payload is None else orjson.loads(payload)
    return {"id": decision_id, "system": system, "outcome": outcome, "ledger_index": index,
            "record": record}  # fmt: skip


def render(d: Decision) -> dict[str, Any]:
    """The JSON of a decision as the pipeline returned it."""
    return {
        "id": d.id,
        "system": d.system,
        "action": d.action,
        "actor": d.actor,
        "effect": d.effect,
        "outcome": d.outcome,
        "allowed": d.allowed,
        "rules": list(d.rules),
        "matched": list(d.matched),
        "reasons": list(d.reasons),
        "policy_version": d.policy_version,
        "approval_id": d.approval_id,
        "guardrails": [
            {"name": g.guardrail, "outcome": g.outcome, "reason": g.reason} for g in d.guardrails
        ],
        "ledger_index": d.ledger_index,
        "retry_after": d.retry_after,
        "run_id": d.run_id,
    }


SystemQuery = Annotated[str | None, Query(pattern=NAME_PATTERN, description="only this system")]
ActorQuery = Annotated[
    str | None, Query(pattern=NAME_PATTERN, description="only decisions this actor asked for")
]
OutcomeQuery = Annotated[Outcome | None, Query(description="only decisions with this outcome")]


@router.get("", response_model=FeedPage)
def feed(
    who: Annotated[Principal, Depends(allow(*ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
    system: SystemQuery = None,
    actor: ActorQuery = None,
    outcome: OutcomeQuery = None,
    since: Instant = None,
    until: Instant = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Recorded decisions, newest first, of the token's systems: optionally of one
    ``system``, ``actor`` or ``outcome``, decided at ``since`` or later and before
    ``until``. Pass ``next`` as ``cursor`` (with the same filters) for older ones.

    Raises:
        Forbidden: ``system`` is outside the token's scope.
        InvalidInput: a bad time, a time range out of order, or a bad cursor.
    """
    if system is not None:
        check_scope(who, system)
    start, end = time_range(since, until)
    before = decode_key(cursor)
    with t.store.read() as conn:
        rows = decision_repo.feed(
            conn, limit=limit + 1, before=before, systems=who.systems, system=system,
            actor=actor, outcome=outcome, since=start, until=end,
        )  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [feed_item(r) for r in rows],
        "next": encode_key(rows[-1].ledger_index) if more else None,
    }


def feed_item(r: decision_repo.FeedRow) -> dict[str, Any]:
    """The JSON of a decision in the feed."""
    at = datetime.fromtimestamp(r.at, UTC).isoformat()
    return {"id": r.id, "ledger_index": r.ledger_index, "system": r.system, "action": r.action,
            "actor": r.actor, "outcome": r.outcome, "at": at}  # fmt: skip
