"""``/v1/policies``: the policy in force, publish a new one, test one against cases,
replay one against the recorded decisions.

A policy that does not load is refused with 422 and every problem listed in the error
body's ``problems`` (``file:line:column: what is wrong``); nothing is published.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from tether.core import Tether
from tether.errors import NotFound
from tether.policy import Policy, Published
from tether.policy import replay as replay_policy
from tether.policy._cases import Case, run_cases
from tether.server._auth import allow, check_scope, get_tether
from tether.server._pages import time_range
from tether.server._schemas import PolicyPublication, PolicyReplay, PolicyTest, errors
from tether.server._tokens import ROLES, Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/policies", tags=["policies"], responses=errors(400, 401, 403, 404, 413, 422, 503)
)

PUBLISH_ROLES = ("admin",)
TEST_ROLES = ("admin", "owner", "auditor")
REPLAY_ROLES = ("admin", "owner", "auditor")
FILE = "policy.yaml"  # how problems name the submitted text


@router.get("/current")
def current(
    who: Annotated[Principal, Depends(allow(*ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """The enforced policy with its text, and the shadow candidate's summary if any.

    The policy covers every system, so a token scoped to systems may not read it (403).

    Raises:
        NotFound: no policy was published yet.
    """
    check_scope(who, None)
    enforced = t.policies.enforced()
    if enforced is None:
        raise NotFound("no policy is enforced yet: publish one (POST /v1/policies)")
    shadow = t.policies.shadow()
    return {**render(enforced), "text": enforced.policy.source,
            "shadow": None if shadow is None else render(shadow)}  # fmt: skip


@router.post("")
def publish(
    body: PolicyPublication,
    who: Annotated[Principal, Depends(allow(*PUBLISH_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Publish the text as the enforced policy (or, with ``shadow``, as the candidate
    evaluated beside it), recorded as a ``policy.published`` entry of the token's actor.

    Raises:
        PolicyError: the text does not load (422 with ``problems``); nothing changes.
    """
    check_scope(who, None)
    policy = Policy.from_text(body.text, FILE)
    published = t.policies.publish(
        policy, actor=who.actor, mode="shadow" if body.shadow else "enforced"
    )
    return render(published)


@router.post("/test")
def run_tests(
    body: PolicyTest, who: Annotated[Principal, Depends(allow(*TEST_ROLES))]
) -> dict[str, Any]:
    """Run test cases against a policy text without publishing it (writes nothing).

    Raises:
        PolicyError: the text does not load (422 with ``problems``).
    """
    policy = Policy.from_text(body.text, FILE)
    cases = [
        Case(c.name or f"case {i + 1}", c.request,
             c.expect if isinstance(c.expect, str) else c.expect.effect,
             None if isinstance(c.expect, str) or c.expect.rules is None
             else tuple(c.expect.rules),
             f"cases[{i}]")
        for i, c in enumerate(body.cases)
    ]  # fmt: skip
    results = run_cases(policy, cases)
    return {
        "passed": all(r.passed for r in results),
        "sha256": policy.sha256,
        "results": [
            {"name": r.case.name, "passed": r.passed, "expected": r.case.effect,
             "effect": r.verdict.effect, "rules": list(r.verdict.rules),
             "reasons": list(r.verdict.reasons)}
            for r in results
        ],
    }  # fmt: skip


@router.post("/replay")
def replay(
    body: PolicyReplay,
    who: Annotated[Principal, Depends(allow(*REPLAY_ROLES))],
    t: Annotated[Tether, Depends(get_tether)],
) -> dict[str, Any]:
    """Replay a candidate policy text against the recorded decisions (of ``since`` to
    ``until``) and return the summary and the first ``limit`` decisions whose verdict
    it would change, oldest first. Writes nothing; reads the whole ledger (the actors
    and systems as each decision saw them), so it takes seconds on big ledgers.

    The replay covers every system, so a token scoped to systems may not run it (403).

    Raises:
        PolicyError: the text does not load (422 with ``problems``).
        InvalidInput: a bad time, or a time range out of order.
    """
    check_scope(who, None)
    start, end = time_range(body.since, body.until)
    policy = Policy.from_text(body.text, FILE)
    report = replay_policy(
        t, policy, since=None if start is None else datetime.fromtimestamp(start, UTC),
        until=None if end is None else datetime.fromtimestamp(end, UTC),
    )  # fmt: skip
    changes = report.changes[: body.limit]
    return {
        "policy": report.policy, "version": report.version, "sha256": policy.sha256,
        "summary": report.summary(), "replayed": report.replayed, "skipped": report.skipped,
        "changed": len(report.changes), "truncated": len(report.changes) > body.limit,
        "changes": [
            {"ledger_index": c.index, "decision_id": c.decision, "at": c.timestamp,
             "system": c.system, "action": c.action, "actor": c.actor,
             "before": {"effect": c.before, "rules": list(c.before_rules)},
             "after": {"effect": c.after, "rules": list(c.after_rules)}}
            for c in changes
        ],
    }  # fmt: skip


def render(p: Published) -> dict[str, Any]:
    """The JSON of a publication (without its text)."""
    return {"name": p.name, "version": p.version, "sha256": p.sha256, "mode": p.mode,
            "published_at": p.published_at, "published_by": p.published_by,
            "ledger_index": p.ledger_index}  # fmt: skip
