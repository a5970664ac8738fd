"""``/v1/decisions``: ask the pipeline (the actor is the token's), read a decision."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path

from tether.core import Tether
from tether.errors import NotFound
from tether.pipeline import Decision
from tether.server._auth import allow, check_scope, get_tether
from tether.server._schemas import ID_PATTERN, DecisionRequest
from tether.server._tokens import ROLES, Principal
from tether.store import decision_repo

__all__ = ["router"]

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])

SUBMIT_ROLES = ("admin", "service", "agent")


@router.post("")
def submit(
    body: DecisionRequest,
    who: Annotated[Principal, Depends(allow(*SUBMIT_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Decide whether the token's actor may do the action, and record the decision.

    A denial is a decision too (200, ``allowed: false``); for ``require_approval``
    the response carries the ``approval_id`` to poll and, once approved, to send back.
    """
    check_scope(who, body.system)
    decision = t.decide(
        body.system, body.action, actor=who.actor, inputs=body.inputs, context=body.context,
        approval_id=body.approval_id,
    )  # fmt: skip
    return render(decision)


@router.get("/{decision_id}")
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
