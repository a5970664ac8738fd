"""Outcomes and feedback: what happened after a decision, reported by the client.

``POST /v1/decisions/{id}/outcome`` records the outcome of an action the client ran
itself (counted by the breakers); ``POST /v1/feedback`` joins ground-truth labels to
decisions. Both are recorded in the ledger with the token's actor.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Depends, Path

from tether.core import Tether
from tether.errors import InvalidInput, NotFound
from tether.pipeline import Decision, Outcome
from tether.server._auth import allow, check_scope, get_tether
from tether.server._errors import Forbidden
from tether.server._schemas import ID_PATTERN, FeedbackBatch, OutcomeReport, errors
from tether.server._tokens import Principal
from tether.store import decision_repo

__all__ = ["router"]

router = APIRouter(tags=["outcomes"], responses=errors(400, 401, 403, 404, 409, 413, 422, 503))

OUTCOME_ROLES = ("admin", "service", "agent")
FEEDBACK_ROLES = ("admin", "service")


@router.post("/v1/decisions/{decision_id}/outcome")
def record_outcome(
    decision_id: Annotated[str, Path(pattern=ID_PATTERN)],
    body: OutcomeReport,
    who: Annotated[Principal, Depends(allow(*OUTCOME_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Record the outcome of an allowed action the token's actor ran itself (its
    own decision only); ``error`` set means it failed.

    Each call appends one ``decision.outcome`` entry: report an outcome once.

    Raises:
        NotFound: no such decision.
        Forbidden: the decision is another actor's, or of a system out of scope.
        InvalidInput: the decision was not allowed, or its record was erased.
    """
    decision = _decision(t, decision_id, who)
    index = t.pipeline.record_outcome(
        decision, output=body.output, error=body.error, actor=who.actor
    )
    status = "executed" if body.error is None else "failed"
    return {"decision_id": decision_id, "status": status, "ledger_index": index}


@router.post("/v1/feedback")
def add_feedback(
    body: FeedbackBatch,
    who: Annotated[Principal, Depends(allow(*FEEDBACK_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Join labels to decisions: each id is ``joined``, a ``duplicate`` (already
    labelled: the first label stands) or ``unknown`` (no such decision). One
    ``feedback`` ledger entry when anything joined.

    A token scoped to systems may only label decisions of those systems (403).
    """
    pairs = [(item.decision_id, item.label) for item in body.labels]
    if who.systems is not None:
        with t.store.read() as conn:
            found = decision_repo.for_ids(conn, [d for d, _ in pairs])
        for _, system, _, _ in found:
            check_scope(who, system)
    result = t.feedback.add_many(pairs, actor=who.actor)
    return {
        "joined": list(result.joined),
        "duplicates": list(result.duplicates),
        "unknown": list(result.unknown),
        "ledger_index": result.ledger_index,
    }


def _decision(t: Tether, decision_id: str, who: Principal) -> Decision:
    """The recorded decision, as far as the outcome needs it, checked against the token."""
    with t.store.read() as conn:
        row = decision_repo.entry(conn, decision_id)
    if row is None:
        raise NotFound(f"decision {decision_id!r} does not exist")
    system, outcome, index, payload = row
    check_scope(who, system)
    if payload is None:
        raise InvalidInput(f"decision {decision_id!r} was erased; its outcome cannot be recorded")
    record = orjson.loads(payload)
    if record.get("actor") != who.actor:
        raise Forbidden(
            f"decision {decision_id!r} was made by another actor; only it may report the outcome"
        )
    # Only what record_outcome reads: breaker probes live in the deciding process, so a
    # half-open breaker's probe is settled by its own timeout, not by this report.
    return Decision(decision_id, system, str(record["action"]), who.actor,
                    str(record.get("effect", "")), cast(Outcome, outcome),
                    ledger_index=index)  # fmt: skip
