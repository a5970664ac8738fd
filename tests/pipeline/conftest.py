"""A governed tether with a small policy, actors and systems, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tether import Tether
from tether.ledger import verify_ledger
from tether.policy import Policy

POLICY = """\
policy: test-governance
systems:
  support-bot: {kind: agent, owner: support, risk_tier: limited}
  loan-model: {kind: model, owner: credit, risk_tier: high}
schema:
  actor: {suspended: bool}
  context: {amount: number, limit: number}
actions:
  read_customer: {args: {customer: string}}
  send_email: {args: {to: string, body: string}}
  refund: {args: {amount: number}}
  flaky: {}
  predict: {args: {income: number}}
rules:
  - id: support-may-act
    systems: [support-bot]
    actions: [read_customer, send_email, refund, flaky]
    when: '"support" in actor.roles'
    effect: allow
  - id: model-predicts
    systems: [loan-model]
    actions: [predict]
    effect: allow
  - id: suspended
    when: has(actor.suspended) && actor.suspended
    effect: deny
    reason: the agent is suspended
  - id: big-refund
    actions: [refund]
    when: action.args.amount > 1000
    effect: require_approval
    approvers: {roles: [finance_lead], count: 2}
    timeout: 1h
    escalate_to: {roles: [cfo], timeout: 2h}
    reason: refunds above 1,000 need two finance leads
  - id: email-after-pii
    actions: [send_email]
    when: >-
      run.actions.exists(a, a.name == "read_customer") &&
      !action.args.to.endsWith("@example.com")
    effect: require_approval
    approvers: {roles: [privacy_officer]}
    reason: e-mail outside the company after reading customer data
  - id: huge-refund
    actions: [refund]
    when: action.args.amount > context.limit
    effect: deny
    reason: above the caller's limit
"""


def setup_governance(t: Tether) -> Tether:
    a = t.actors.register
    a(
        "agent:support",
        kind="agent",
        roles=["support"],
        attributes={"suspended": False},
        actor="admin",
    )
    a("agent:rogue", kind="agent", roles=["support"], attributes={"suspended": True}, actor="admin")
    a("svc:scoring", kind="service", roles=["scoring"], actor="admin")
    a("user:lea", kind="human", roles=["finance_lead"], actor="admin")
    a("user:max", kind="human", roles=["finance_lead"], actor="admin")
    a("user:cfo", kind="human", roles=["cfo"], actor="admin")
    a("user:pia", kind="human", roles=["privacy_officer"], actor="admin")
    a("user:root", kind="human", roles=["admin"], actor="admin")
    a("agent:helper", kind="agent", roles=["finance_lead"], actor="admin")
    t.policies.publish(Policy.from_text(POLICY, "test.yaml"), actor="user:root")
    return t


@pytest.fixture
def gov(make_tether: Callable[..., Tether]) -> Iterator[Tether]:
    """A governed tether; after the test its whole ledger must still verify."""
    t = setup_governance(make_tether())
    yield t
    check_ledger(t)


def check_ledger(t: Tether) -> None:
    """Every scenario leaves a ledger that verifies (reopened: the test may have closed it)."""
    with Tether.open(t.settings, read_only=True) as again:
        report = verify_ledger(again.store, again.ledger.verifier)
    assert report.ok, report.summary()
