"""Console: the approvals inbox and one approval with approve / reject / override forms
(justification required, CSRF-checked, through the SDK as the user's actor)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.server.console.conftest import PASSWORD, Console, ConsoleClient
from tests.server.console.test_decisions import indexes, refund

from tether import InvalidInput, Tether
from tether.server.console.approvals import MIN_JUSTIFICATION, REMINDER

TIMES = "\N{MULTIPLICATION SIGN}"
WHY = "I checked the order, the customer's history and the amount against the invoice."


def state(t: Tether, approval_id: str) -> tuple[str, int]:
    """The approval's state and how many votes it has."""
    a = t.approvals.get(approval_id)
    return a.state, len(a.votes)


def flash(client: ConsoleClient, response: Any) -> str:
    """Follow a POST-redirect-GET and return the message shown once."""
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    found = re.search(r'data-test="flash">([^<]*)<', page.text)
    assert found is not None, page.text
    return found.group(1)


def test_inbox_shows_what_is_asked_why_and_until_when(console: Console) -> None:
    d = refund(console.t, amount=5000)
    page = console("approver").get("/console/approvals")
    assert page.status_code == 200, page.text
    text = page.text
    assert f'data-approval="{d.approval_id}"' in text
    assert "refund on support-bot" in text
    assert "agent:support" in text  # asked by
    assert "rule <code>big-refund</code>: refunds above 1,000 need two finance leads" in text
    assert f"2 {TIMES} finance_lead" in text
    assert "&#34;amount&#34;: 5000" in text  # the AI's proposal
    assert "state-pending" in text
    assert "2026-01-01 01:00:00 UTC — <strong>in 1 h</strong>" in text  # the 1 h timeout


def test_inbox_is_personal_but_complete_for_admin_and_auditor(console: Console) -> None:
    t = console.t
    d = refund(t)
    approval = f'data-approval="{d.approval_id}"'
    # A CFO votes only after the escalation; not in their inbox yet.
    cfo = console("approver", username="cfo", actor="user:cfo")
    assert approval not in cfo.get("/console/approvals").text
    assert "Nothing waits for you" in cfo.get("/console/approvals").text
    for role in ("admin", "auditor"):
        assert approval in console(role).get("/console/approvals").text
    scoped = console("auditor", systems=["loan-model"])
    assert approval not in scoped.get("/console/approvals").text
    assert console("operator").get("/console/approvals").status_code == 403


def test_escalated_approval_shows_the_new_level_and_deadline(console: Console, clock: Any) -> None:
    d = refund(console.t)
    clock.advance(hours=1, seconds=1)
    cfo = console("approver", username="cfo", actor="user:cfo")
    page = cfo.get("/console/approvals")
    assert f'data-approval="{d.approval_id}"' in page.text
    assert "(escalated to level 1)" in page.text
    assert f"1 {TIMES} cfo" in page.text
    assert "— <strong>in 2 h</strong>" in page.text


def test_approving_needs_a_justification_and_nothing_is_written_without(
    console: Console,
) -> None:
    t = console.t
    d = refund(t)
    c = console("approver")
    size = t.ledger.size
    for text in ("", "   ", "ok"):
        r = c.form(f"/console/approvals/{d.approval_id}/approve", justification=text)
        assert r.status_code == 422
        assert f"write a justification of at least {MIN_JUSTIFICATION} characters" in r.text
    assert (t.ledger.size, state(t, d.approval_id)) == (size, ("pending", 0))


def test_approve_twice_then_the_action_runs_and_is_in_the_feed(console: Console) -> None:
    t = console.t
    d = refund(t)
    lea = console("approver")
    page = lea.get(f"/console/approvals/{d.approval_id}")
    assert REMINDER in page.text
    assert 'data-test="approve-form"' in page.text

    first = lea.form(f"/console/approvals/{d.approval_id}/approve", justification=WHY)
    assert "more approvers are still needed" in flash(lea, first)
    assert state(t, d.approval_id) == ("pending", 1)

    again = lea.form(f"/console/approvals/{d.approval_id}/approve", justification=WHY)
    assert again.status_code == 422
    assert "already voted" in again.text

    max_ = console("approver", username="max", actor="user:max")
    second = max_.form(f"/console/approvals/{d.approval_id}/approve", justification=WHY)
    assert flash(max_, second) == (
        "Approved. The requester may now run the action once, sending back approval id "
        f"{d.approval_id}."
    )
    assert state(t, d.approval_id) == ("approved", 2)
    detail = max_.get(f"/console/approvals/{d.approval_id}").text
    assert WHY.replace("'", "&#39;") in detail  # the justification is on the record
    assert 'data-test="approve-form"' not in detail  # resolved: no more votes

    # The service re-submits with the approval id, as the HTTP API client would.
    run = console.api.call(
        "POST", "/v1/decisions", "agent",
        json={"system": "support-bot", "action": "refund", "inputs": {"amount": 5000},
              "context": {"amount": 5000, "limit": 10_000}, "approval_id": d.approval_id},
    )  # fmt: skip
    assert run.status_code == 200, run.text
    assert run.json()["outcome"] == "allowed"
    feed = console("auditor").get("/console/decisions").text
    assert indexes(feed)[0] == run.json()["ledger_index"]
    assert state(t, d.approval_id)[0] == "consumed"


def test_reject_stops_the_action(console: Console) -> None:
    t = console.t
    d = refund(t)
    c = console("approver")
    r = c.form(
        f"/console/approvals/{d.approval_id}/reject",
        justification="The amount is above the invoice.",
    )
    assert flash(c, r) == "Rejected. The action will not run."
    assert state(t, d.approval_id) == ("rejected", 1)
    again = refund(t, approval_id=d.approval_id)
    assert again.outcome == "denied"


def test_override_needs_the_override_role(console: Console) -> None:
    t = console.t
    d = refund(t)
    lea = console("approver")
    refused = lea.form(f"/console/approvals/{d.approval_id}/override", justification=WHY,
                       verdict="approve")  # fmt: skip
    assert refused.status_code == 422
    assert "may not override: needs role admin or overrider" in refused.text
    assert state(t, d.approval_id) == ("pending", 0)

    admin = console("admin")
    bad = admin.form(f"/console/approvals/{d.approval_id}/override", justification=WHY,
                     verdict="maybe")  # fmt: skip
    assert bad.status_code == 422
    assert "must be approve or reject" in bad.text
    done = admin.form(f"/console/approvals/{d.approval_id}/override", justification=WHY,
                      verdict="approve")  # fmt: skip
    assert "the request is now approved" in flash(admin, done)
    assert state(t, d.approval_id)[0] == "overridden"
    assert refund(t, approval_id=d.approval_id).outcome == "allowed"


def test_no_self_approval_through_the_page(console: Console) -> None:
    t = console.t
    # A person who may both ask for a refund and approve refunds.
    t.actors.register("user:sam", kind="human", roles=["support", "finance_lead"], actor="admin",
                      attributes={"approve_tiers": ["limited"]})  # fmt: skip
    d = t.decide("support-bot", "refund", actor="user:sam", inputs={"amount": 5000},
                 context={"amount": 5000, "limit": 10_000})  # fmt: skip
    assert d.outcome == "pending_approval"
    sam = console("approver", username="sam", actor="user:sam")
    assert f'data-approval="{d.approval_id}"' not in sam.get("/console/approvals").text
    size = t.ledger.size
    r = sam.form(f"/console/approvals/{d.approval_id}/approve", justification=WHY)
    assert r.status_code == 422
    assert "no self-approval: the requester cannot vote on its request" in r.text
    assert (t.ledger.size, state(t, d.approval_id)) == (size, ("pending", 0))


def test_an_agent_can_never_approve(console: Console) -> None:
    """An agent has no console account, whatever its roles (agent:helper is a
    finance_lead); the SDK refuses its vote too."""
    t = console.t
    d = refund(t)
    with pytest.raises(InvalidInput, match="not a registered, active person"):
        console.users.create("helper", "agent:helper", "approver", PASSWORD, by="user:root")
    with pytest.raises(InvalidInput, match="only people may"):
        t.approvals.approve(d.approval_id, approver="agent:helper", comment=WHY)
    assert state(t, d.approval_id) == ("pending", 0)


def test_votes_need_the_csrf_token_and_a_voting_role(console: Console) -> None:
    t = console.t
    d = refund(t)
    c = console("approver")
    forged = c.post(f"/console/approvals/{d.approval_id}/approve",
                    data={"justification": WHY, "csrf_token": "guess"},
                    follow_redirects=False)  # fmt: skip
    assert forged.status_code == 403
    missing = c.post(f"/console/approvals/{d.approval_id}/approve",
                     data={"justification": WHY}, follow_redirects=False)  # fmt: skip
    assert missing.status_code == 403
    auditor = console("auditor")
    assert 'data-test="approve-form"' not in auditor.get(f"/console/approvals/{d.approval_id}").text
    refused = auditor.form(f"/console/approvals/{d.approval_id}/approve", justification=WHY)
    assert refused.status_code == 403
    assert state(t, d.approval_id) == ("pending", 0)


def test_detail_refuses_unknown_and_out_of_scope_approvals(console: Console) -> None:
    d = refund(console.t)
    missing = console("approver").get("/console/approvals/apr_nope")
    assert missing.status_code == 404
    scoped = console("approver", systems=["loan-model"])
    assert scoped.get(f"/console/approvals/{d.approval_id}").status_code == 403
    r = scoped.form(f"/console/approvals/{d.approval_id}/approve", justification=WHY)
    assert r.status_code == 403
    assert state(console.t, d.approval_id) == ("pending", 0)


def test_an_approver_votes_only_on_the_risk_tiers_they_hold(console: Console) -> None:
    """The API's per-system rules hold on the page too: an approver whose actor has no
    ``approve_tiers`` for the system's tier neither sees the approval nor can vote."""
    t = console.t
    t.actors.register("user:kim", kind="human", roles=["finance_lead"], actor="admin",
                      attributes={"approve_tiers": ["minimal"]})  # fmt: skip
    d = refund(t)  # support-bot is a "limited" tier system
    kim = console("approver", username="kim", actor="user:kim")
    assert f'data-approval="{d.approval_id}"' not in kim.get("/console/approvals").text
    size = t.ledger.size
    r = kim.form(f"/console/approvals/{d.approval_id}/approve", justification=WHY)
    assert r.status_code == 403
    assert "approve_tiers" in r.text
    assert (t.ledger.size, state(t, d.approval_id)) == (size, ("pending", 0))
