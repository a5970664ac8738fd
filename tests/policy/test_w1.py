"""The W1 scenario written as a tether policy agrees with a plain-Python reference."""

from __future__ import annotations

import collections

from tests.policy.w1_scenario import load

from tether.policy import Policy

w1 = load()


def test_w1_policy_agrees_with_the_reference_on_2000_seeded_requests() -> None:
    policy = Policy.from_file(w1.POLICY)
    outcomes: collections.Counter[str] = collections.Counter()
    mismatches = []
    for request in w1.requests(2000):
        verdict = policy.evaluate(request)
        effect, rules = w1.reference(request)
        outcomes[verdict.effect] += 1
        if (verdict.effect, sorted(verdict.rules)) != (effect, sorted(rules)):
            mismatches.append((request, verdict, effect, rules))
    assert mismatches == []
    # the scenario exercises all three outcomes in roughly the published shares
    assert 0.35 < outcomes["deny"] / 2000 < 0.50
    assert 0.30 < outcomes["allow"] / 2000 < 0.45
    assert 0.12 < outcomes["require_approval"] / 2000 < 0.25


def test_approval_obligations_come_from_the_deciding_rules() -> None:
    policy = Policy.from_file(w1.POLICY)
    request = {
        "actor": {"role": "finance_agent", "suspended": False},
        "system": {"name": w1.SYSTEM},
        "action": {"name": "issue_payment", "args": {"amount": 900.0}},
        "context": {"env": "staging", "hour": 3, "risk_score": 0.1},
    }
    verdict = policy.evaluate(request)
    assert verdict.effect == "require_approval"
    assert verdict.rules == ("A2",)
    assert set(verdict.matched) == {"A2", "P-finance_agent"}
    (approval,) = verdict.approvals
    assert (approval.rule, approval.roles, approval.count) == ("A2", ("finance_lead", "cfo"), 2)
    assert approval.timeout == 4 * 3600
    assert verdict.reasons == ("payments above 500 need two approvers",)
    assert verdict.version == "sha256:" + policy.sha256
