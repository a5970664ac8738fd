"""Approvals: N-of-M, no self-approval, escalation, expiry, restart, override."""

from __future__ import annotations

import threading

import pytest

from tether import ActionDenied, ApprovalRequired, Conflict, InvalidInput, Settings, Tether
from tether.ledger import verify_ledger
from tether.testing import FrozenClock

REFUND = {"amount": 5000.0}
CTX = {"limit": 10**6}


def ask(gov: Tether) -> str:
    d = gov.decide("support-bot", "refund", actor="agent:support", inputs=REFUND, context=CTX)
    assert (d.effect, d.outcome, d.rules) == (
        "require_approval",
        "pending_approval",
        ("big-refund",),
    )
    assert d.approval_id is not None
    return d.approval_id


def kinds(gov: Tether, approval_id: str) -> list[str]:
    return [e.kind for e in gov.ledger.iter_entries() if e.subject == f"approval/{approval_id}"]


def test_two_distinct_finance_leads_are_needed(gov: Tether) -> None:
    aid = ask(gov)
    a = gov.approvals.approve(aid, approver="user:lea", comment="checked the invoice")
    assert (a.state, a.needed()[0]["have"]) == ("pending", 1)
    with pytest.raises(InvalidInput, match="already voted"):
        gov.approvals.approve(aid, approver="user:lea")
    with pytest.raises(InvalidInput, match="lacks a required role"):
        gov.approvals.approve(aid, approver="user:pia")
    assert gov.approvals.approve(aid, approver="user:max").state == "approved"
    assert kinds(gov, aid) == ["approval.requested", "approval.vote", "approval.approved"]


def test_no_self_approval_and_agents_never_approve(gov: Tether) -> None:
    aid = ask(gov)
    with pytest.raises(InvalidInput, match="only people may"):
        gov.approvals.approve(aid, approver="agent:helper")  # has finance_lead, is an agent
    gov.actors.register("agent:support", kind="human", roles=["finance_lead", "support"],
                        actor="admin")  # fmt: skip
    with pytest.raises(InvalidInput, match="no self-approval"):
        gov.approvals.approve(aid, approver="agent:support")


def test_the_approved_action_runs_once_with_the_same_inputs(gov: Tether) -> None:
    calls: list[float] = []

    @gov.governed("support-bot", "refund", actor="agent:support", context=CTX)
    def refund(amount: float) -> str:
        calls.append(amount)
        return "refunded"

    with pytest.raises(ApprovalRequired) as info:
        refund(5000.0)
    aid = info.value.approval_id
    with pytest.raises(ActionDenied, match="pending, not approved"):
        refund(5000.0, _approval_id=aid)
    gov.approvals.approve(aid, approver="user:lea")
    gov.approvals.approve(aid, approver="user:max")
    with pytest.raises(ActionDenied, match="approved another request"):
        refund(9000.0, _approval_id=aid)
    assert refund(5000.0, _approval_id=aid) == "refunded"
    with pytest.raises(ActionDenied, match="consumed, not approved") as info:
        refund(5000.0, _approval_id=aid)
    assert info.value.decision.rules == ("tether:approval-not-usable",)
    assert calls == [5000.0]


def test_timeout_escalates_then_expires_without_running(gov: Tether, clock: FrozenClock) -> None:
    ran: list[float] = []

    @gov.governed("support-bot", "refund", actor="agent:support", context=CTX)
    def refund(amount: float) -> str:
        ran.append(amount)
        return "refunded"

    with pytest.raises(ApprovalRequired) as info:
        refund(**REFUND)
    aid = info.value.approval_id
    gov.approvals.approve(aid, approver="user:lea")
    clock.advance(seconds=3601)
    a = gov.approvals.get(aid)
    assert (a.state, a.level) == ("escalated", 1)
    assert a.needed() == [{"rule": "big-refund", "roles": ["cfo"], "count": 1, "have": 0}]
    clock.advance(seconds=2 * 3600 + 1)
    a = gov.approvals.get(aid)
    assert a.state == "expired"
    with pytest.raises(InvalidInput, match="expired; it takes no more votes"):
        gov.approvals.approve(aid, approver="user:cfo")
    with pytest.raises(ActionDenied, match="expired, not approved"):
        refund(**REFUND, _approval_id=aid)
    assert ran == []  # expiry never runs the action
    assert kinds(gov, aid) == [
        "approval.requested", "approval.vote", "approval.escalated", "approval.expired",
    ]  # fmt: skip


def test_an_escalated_approval_is_decided_by_the_next_level(
    gov: Tether, clock: FrozenClock
) -> None:
    aid = ask(gov)
    clock.advance(hours=1, seconds=1)
    assert gov.approvals.inbox("user:cfo")[0].id == aid
    assert gov.approvals.inbox("user:lea") == []
    assert gov.approvals.approve(aid, approver="user:cfo").state == "approved"


def test_a_rejection_resolves_it_and_needs_a_reason(gov: Tether) -> None:
    aid = ask(gov)
    with pytest.raises(InvalidInput, match="needs a comment"):
        gov.approvals.reject(aid, approver="user:lea", comment=" ")
    assert gov.approvals.reject(aid, approver="user:lea", comment="duplicate").state == "rejected"


def test_a_restart_keeps_every_pending_approval(
    gov: Tether, settings: Settings, clock: FrozenClock
) -> None:
    ids = {ask(gov) for _ in range(3)}
    gov.close()
    with Tether.open(settings, clock=clock) as again:
        pending = {a.id for a in again.approvals.list()}
        assert ids <= pending
        aid = sorted(ids)[0]
        again.approvals.approve(aid, approver="user:lea")
        assert again.approvals.approve(aid, approver="user:max").state == "approved"


def test_an_override_needs_a_justification_and_a_right_and_is_recorded(gov: Tether) -> None:
    aid = ask(gov)
    with pytest.raises(InvalidInput, match="justification"):
        gov.approvals.override(aid, actor="user:root", justification="ok")
    with pytest.raises(InvalidInput, match="needs role admin or overrider"):
        gov.approvals.override(aid, actor="user:lea", justification="the customer is waiting")
    a = gov.approvals.override(
        aid, actor="user:root", justification="customer is waiting; CFO ok by phone"
    )
    assert a.state == "overridden"
    entry = next(e for e in gov.ledger.iter_entries() if e.kind == "approval.overridden")
    assert entry.actor == "user:root"
    assert entry.payload["justification"] == "customer is waiting; CFO ok by phone"
    assert entry.payload["from"] == "pending"


def test_a_stale_vote_is_a_conflict_not_a_double_resolution(gov: Tether) -> None:
    aid = ask(gov)
    stale = gov.approvals.get(aid)
    gov.approvals.reject(aid, approver="user:lea", comment="no")
    from tether.store import approval_repo as repo

    with pytest.raises(Conflict):
        gov.ledger.append(
            "approval.approved", "user:max", {"approval": aid},
            mutation=repo.vote(aid, "user:max", 0, ["finance_lead"], "approve", "", 1.0,
                               (stale.state, stale.level, stale.updated_at), ("approved", 0, None)),
        )  # fmt: skip
    assert gov.approvals.get(aid).state == "rejected"
    assert verify_ledger(gov.store, gov.ledger.verifier).ok


def test_a_caller_can_block_poll_or_be_called_back(gov: Tether) -> None:
    aid = ask(gov)
    seen: list[str] = []
    gov.approvals.on_resolved(aid, lambda a: seen.append(a.state))
    assert gov.approvals.wait(aid, timeout=0.05).state == "pending"  # times out, still open
    approver = threading.Thread(
        target=lambda: [gov.approvals.approve(aid, approver=p) for p in ("user:lea", "user:max")]
    )
    approver.start()
    resolved = gov.approvals.wait(aid, timeout=30, poll=0.01)
    approver.join(timeout=30)
    assert resolved.state == "approved"
    assert seen == ["approved"]


def test_an_approval_is_bound_to_the_context_and_the_unredacted_inputs(gov: Tether) -> None:
    from tether.pipeline.guardrails import Email

    d = gov.decide("support-bot", "refund", actor="agent:support", inputs=REFUND,
                   context={"limit": 10**6})  # fmt: skip
    assert d.approval_id is not None
    gov.approvals.approve(d.approval_id, approver="user:lea")
    gov.approvals.approve(d.approval_id, approver="user:max")
    other = gov.decide("support-bot", "refund", actor="agent:support", inputs=REFUND,
                       context={"limit": 10**7}, approval_id=d.approval_id)  # fmt: skip
    assert (other.outcome, other.rules) == ("denied", ("tether:approval-not-usable",))
    # the same redacted inputs, different real ones: still another request
    mail = {"to": "ana@corp.example", "body": "x"}
    first = gov.decide("support-bot", "send_email", actor="agent:support", inputs=mail,
                       input_guardrails=[Email()])  # fmt: skip
    assert first.outcome == "allowed"  # no approval needed: nothing to steal here
    used = gov.decide("support-bot", "refund", actor="agent:support", inputs=REFUND,
                      context={"limit": 10**6}, approval_id=d.approval_id)  # fmt: skip
    assert used.outcome == "allowed"
    kinds = [e.kind for e in gov.ledger.iter_entries() if e.subject == f"approval/{d.approval_id}"]
    assert kinds[-1] == "approval.consumed"


def test_concurrent_votes_never_lose_one(gov: Tether) -> None:
    aid = ask(gov)
    start = threading.Barrier(2)

    def vote(who: str) -> None:
        start.wait(timeout=30)
        gov.approvals.approve(aid, approver=who)

    threads = [threading.Thread(target=vote, args=(p,)) for p in ("user:lea", "user:max")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    a = gov.approvals.get(aid)
    assert a.state == "approved"
    assert sorted(v["approver"] for v in a.votes) == ["user:lea", "user:max"]


def test_votes_count_across_an_escalation_for_requirements_that_did_not_escalate(
    gov: Tether, clock: FrozenClock
) -> None:
    from tether.policy import ApprovalRequirement

    gov.actors.register("user:dpo", kind="human", roles=["dpo"], actor="admin")
    a = gov.approvals.request(
        decision_id="dec_x", system="support-bot", action="refund", requester="agent:support",
        requirements=[ApprovalRequirement("money", ("finance_lead",), 1, 60.0, ("cfo",), 1, 600.0),
                      ApprovalRequirement("privacy", ("dpo",), 1, None)],
        reasons=["two checks"], request={}, inputs_digest="sha256:x",
    )  # fmt: skip
    gov.approvals.approve(a.id, approver="user:dpo")
    clock.advance(seconds=61)
    assert gov.approvals.get(a.id).state == "escalated"
    assert gov.approvals.approve(a.id, approver="user:cfo").state == "approved"
