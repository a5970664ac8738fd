"""Replay reports exactly the recorded decisions whose verdict a candidate changes."""

from __future__ import annotations

import random
from collections.abc import Callable

from tests.pipeline.conftest import POLICY, setup_governance

from tether import Tether
from tether.policy import Policy, replay


def test_replay_reports_exactly_the_changed_verdicts(make_tether: Callable[..., Tether]) -> None:
    gov = setup_governance(make_tether())
    rng = random.Random(3)
    actors = ["agent:support", "agent:rogue", "svc:scoring"]
    expected_requests = []
    for _ in range(60):
        actor = rng.choice(actors)
        amount = rng.choice([10.0, 800.0, 1500.0, 2500.0, 8000.0])
        d = gov.decide("support-bot", "refund", actor=actor, inputs={"amount": amount},
                       context={"limit": 5000})  # fmt: skip
        expected_requests.append((d, actor, amount))
    gov.breakers.trip("system:support-bot", actor="user:root", reason="freeze")
    gov.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 1.0})  # not policy
    # The candidate raises the approval threshold from 1,000 to 2,000.
    candidate = Policy.from_text(POLICY.replace("amount > 1000", "amount > 2000"), "candidate.yaml")
    report = replay(gov, candidate)
    current = gov.policies.enforced()
    assert current is not None
    want = []
    for d, actor, amount in expected_requests:
        request = {
            "actor": gov.actors.get(actor).as_input(),
            "system": gov.systems.get("support-bot").as_input(),
            "action": {"name": "refund", "args": {"amount": amount}},
            "context": {"limit": 5000},
        }
        before, after = current.policy.evaluate(request), candidate.evaluate(request)
        assert (before.effect, before.rules) == (d.effect, d.rules)
        if (before.effect, sorted(before.rules)) != (after.effect, sorted(after.rules)):
            want.append((d.id, before.effect, after.effect))
    assert [(c.decision, c.before, c.after) for c in report.changes] == want
    assert len(want) > 0
    assert {(c.before, c.after) for c in report.changes} == {("require_approval", "allow")}
    assert (report.replayed, report.skipped) == (60, 1)
    assert replay(gov, current.policy).changes == ()
