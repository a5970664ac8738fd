"""Console: the decisions feed (paging, filters, scope, live rows) and one decision
(record, approval, explanation, erasure, verified receipt)."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.pipeline.conftest import POLICY
from tests.server.console.conftest import Console

from tether import Tether
from tether.ledger import Receipt, verify_receipt
from tether.policy import Policy
from tether.server.console.decisions import PAGE, check_receipt
from tether.testing import FrozenClock

_ROW = re.compile(r'<tr data-index="(\d+)" data-test="decision-row">')
_LINK = re.compile(r'<a href="/console/decisions/(dec_\w+)">')


def indexes(page: str) -> list[int]:
    """The ledger indexes of the feed rows in a page, top to bottom."""
    return [int(i) for i in _ROW.findall(page)]


def read(t: Tether, n: int, customer: str = "c") -> list[Any]:
    """``n`` allowed decisions of agent:support on support-bot."""
    return [
        t.decide("support-bot", "read_customer", actor="agent:support",
                 inputs={"customer": f"{customer}{i}"})
        for i in range(n)
    ]  # fmt: skip


def refund(t: Tether, amount: int = 5000, **kwargs: Any) -> Any:
    """A refund decision of agent:support (above 1,000 it needs two finance leads)."""
    return t.decide("support-bot", "refund", actor="agent:support", inputs={"amount": amount},
                    context={"amount": amount, "limit": 10_000}, **kwargs)  # fmt: skip


def test_feed_is_newest_first_with_keyset_pages(console: Console) -> None:
    made = read(console.t, PAGE + 5)
    c = console("auditor")

    first = c.get("/console/decisions")
    assert first.status_code == 200, first.text
    newest = [d.ledger_index for d in reversed(made)]
    assert newest[:PAGE] == indexes(first.text)
    older = re.search(r'<a id="older" href="([^"]+)"', first.text)
    assert older is not None
    assert f"before={newest[PAGE - 1]}" in older.group(1)

    second = c.get(html.unescape(older.group(1)))
    assert newest[PAGE:] == indexes(second.text)
    assert 'id="older"' not in second.text  # the last page
    assert 'data-live="off"' in second.text  # older pages do not poll


def test_feed_filters_by_system_actor_verdict_and_time(
    console: Console, clock: FrozenClock
) -> None:
    t = console.t
    early = read(t, 2)
    clock.advance(hours=1)
    denied = t.decide("support-bot", "read_customer", actor="agent:rogue", inputs={"customer": "x"})
    model = t.decide("loan-model", "predict", actor="svc:scoring", inputs={"income": 1.0})
    assert denied.outcome == "denied"
    c = console("auditor")

    def shown(query: str) -> set[int]:
        page = c.get(f"/console/decisions?{query}")
        assert page.status_code == 200, page.text
        return set(indexes(page.text))

    assert {denied.ledger_index} == shown("outcome=denied")
    assert {model.ledger_index} == shown("system=loan-model")
    assert {d.ledger_index for d in early} == shown("actor=agent%3Asupport")
    assert {denied.ledger_index, model.ledger_index} == shown("since=2026-01-01T00:30")
    assert {d.ledger_index for d in early} == shown("until=2026-01-01T00:30")
    assert set() == shown("system=loan-model&outcome=denied")
    # Empty fields filter nothing; the form keeps what was chosen.
    page = c.get("/console/decisions?system=&actor=&outcome=denied&since=&until=")
    assert '<option value="denied" selected>' in page.text
    assert {denied.ledger_index} == set(indexes(page.text))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("outcome=maybe", "outcome &#39;maybe&#39; is unknown; use one of allowed"),
        ("since=yesterday", "since &#39;yesterday&#39; is not a date and time; use YYYY-MM-DD"),
        ("since=2026-01-02&until=2026-01-01", "until (2026-01-01) must be after since"),
        ("before=9223372036854775808", "less than or equal to 9223372036854775807"),
    ],
)
def test_feed_refuses_bad_filters_with_the_fix(console: Console, query: str, message: str) -> None:
    page = console("auditor").get(f"/console/decisions?{query}")
    assert page.status_code == 422
    assert message in page.text


def test_feed_shows_only_the_users_systems(console: Console) -> None:
    t = console.t
    read(t, 2)
    model = t.decide("loan-model", "predict", actor="svc:scoring", inputs={"income": 1.0})
    c = console("auditor", systems=["loan-model"])

    assert [model.ledger_index] == indexes(c.get("/console/decisions").text)
    refused = c.get("/console/decisions?system=support-bot")
    assert refused.status_code == 403
    assert "not system &#39;support-bot&#39;" in refused.text
    empty = c.get("/console/decisions/rows?after=-1&system=loan-model&outcome=denied")
    assert indexes(empty.text) == []


def test_live_rows_are_those_after_the_newest_shown(console: Console) -> None:
    t = console.t
    before = read(t, 3)
    c = console("operator")
    page = c.get("/console/decisions")
    assert f'data-after="{before[-1].ledger_index}"' in page.text
    assert 'data-rows-url="/console/decisions/rows?"' in page.text
    assert '<script src="/console/static/decisions.js" defer></script>' in page.text

    nothing = c.get(f"/console/decisions/rows?after={before[-1].ledger_index}")
    assert (nothing.status_code, nothing.headers["x-tether-rows"]) == (200, "0")
    assert indexes(nothing.text) == []

    fresh = read(t, 2, customer="new")
    rows = c.get(f"/console/decisions/rows?after={before[-1].ledger_index}")
    assert rows.headers["x-tether-rows"] == "2"
    assert rows.headers["cache-control"] == "no-store"
    assert [d.ledger_index for d in reversed(fresh)] == indexes(rows.text)
    assert "<html" not in rows.text  # a fragment, not a page

    flood = read(t, PAGE + 1, customer="flood")
    gap = c.get(f"/console/decisions/rows?after={fresh[-1].ledger_index}")
    assert gap.headers["x-tether-rows"] == "gap"
    assert 'data-gap="1"' in gap.text
    assert "reload the page" in gap.text
    assert flood[-1].ledger_index > fresh[-1].ledger_index


def test_pages_need_a_session(console: Console) -> None:
    anonymous = console.anonymous()
    for path in ("/console/decisions", "/console/decisions/rows?after=1",
                 "/console/decisions/dec_x"):  # fmt: skip
        r = anonymous.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/console/login?next=")


def test_detail_shows_the_record_and_a_verified_receipt(console: Console) -> None:
    t = console.t
    d = refund(t, amount=500)
    c = console("auditor")

    page = c.get(f"/console/decisions/{d.id}")
    assert page.status_code == 200, page.text
    text = page.text
    assert 'id="decision-outcome">allowed<' in text
    assert "<code>support-may-act</code>" in text  # the deciding rule
    assert "&#34;amount&#34;: 500" in text  # the inputs, escaped
    assert 'id="receipt-server" data-result="verified"' in text
    assert "the recorded payload matches the entry&#39;s digest" in text
    # The receipt the browser re-checks is embedded as data, not as a script to run.
    data = re.search(r'<script type="application/json" id="receipt-data">(.*?)</script>', text)
    assert data is not None
    given = json.loads(data.group(1))
    assert given["vkey"] == t.ledger.verifier.vkey
    receipt = Receipt.from_json(json.dumps(given["receipt"]))
    assert verify_receipt(receipt, t.ledger.verifier).index == d.ledger_index
    assert '<script src="/console/static/receipt.js" defer></script>' in text

    download = c.get(f"/console/decisions/{d.id}/receipt.json")
    assert download.headers["content-disposition"].startswith("attachment")
    assert Receipt.from_json(download.content).leaf_index == d.ledger_index


def test_detail_links_the_approval_of_a_pending_decision(console: Console) -> None:
    d = refund(console.t)
    assert d.outcome == "pending_approval"
    page = console("approver").get(f"/console/decisions/{d.id}")
    assert f'<a href="/console/approvals/{d.approval_id}">' in page.text
    assert "state-pending" in page.text
    assert "refunds above 1,000 need two finance leads" in page.text


def test_detail_of_an_erased_decision_says_erased(console: Console) -> None:
    t = console.t
    d = read(t, 1, customer="jane-roe-")[0]
    erasure = t.ledger.erase(d.ledger_index, "GDPR art. 17 request", "user:root")

    page = console("auditor").get(f"/console/decisions/{d.id}")
    assert page.status_code == 200, page.text
    assert 'data-test="erased"' in page.text
    assert f"erased by ledger entry #{erasure.index}" in page.text
    assert "jane-roe" not in page.text  # the inputs are gone
    assert 'id="receipt-server" data-result="verified"' in page.text
    assert "the payload was erased; the entry and its digest remain" in page.text


def test_a_receipt_that_does_not_verify_is_reported(console: Console) -> None:
    t = console.t
    d = read(t, 1)[0]
    good = t.ledger.receipt(d.ledger_index)
    forged = dataclasses.replace(good, entry=good.entry.replace(b"agent:support", b"agent:evil"))
    from tether.server.console import decisions as page

    result = page._verified(forged, t, None, t.ledger.verifier.vkey)
    assert not result.ok
    assert result.message.startswith("ProofError: inclusion proof for leaf")
    # The payload is checked against the entry's digest too.
    wrong = check_receipt(t, d.ledger_index, {"id": d.id, "inputs": "changed"})
    assert not wrong.ok
    assert "payload does not match" in wrong.message


def test_detail_refuses_unknown_and_out_of_scope_decisions(console: Console) -> None:
    d = read(console.t, 1)[0]
    missing = console("auditor").get("/console/decisions/dec_nope")
    assert missing.status_code == 404
    assert "decision &#39;dec_nope&#39; does not exist" in missing.text
    scoped = console("auditor", systems=["loan-model"]).get(f"/console/decisions/{d.id}")
    assert scoped.status_code == 403
    assert (
        console("auditor", systems=["loan-model"])
        .get(f"/console/decisions/{d.id}/receipt.json")
        .status_code
        == 403
    )


def test_detail_shows_the_stored_explanation(console: Console, tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    linear = pytest.importorskip("sklearn.linear_model")
    t = console.t
    x = np.linspace(10_000, 90_000, 40).reshape(-1, 1)
    model = linear.LogisticRegression().fit(x, (x[:, 0] > 50_000).astype(int))
    joblib.dump(model, tmp_path / "model.joblib")
    v = t.models.register("loan-model", tmp_path / "model.joblib", actor="user:root", code=None,
                          environment=None, features=["income"], background=x[:10])  # fmt: skip
    context = {"model": {"alias": "champion", "version": v.version, "digest": v.digest}}
    d = t.pipeline.execute(lambda: float(model.predict_proba([[30_000.0]])[0, 1]), (), {},
                           system="loan-model", action="predict", actor="svc:scoring",
                           inputs={"income": 30_000.0}, context=context)  # fmt: skip
    assert d.outcome == "executed"
    explanation = t.explanations.explain(d.id)

    page = console("auditor").get(f"/console/decisions/{d.id}")
    assert page.status_code == 200, page.text
    assert 'id="explanation"' in page.text
    assert html.escape(explanation.sentence) in page.text
    assert 'id="output"' in page.text  # the model's output is recorded and shown


def test_an_approval_of_another_system_named_by_a_request_is_not_shown(
    console: Console,
) -> None:
    """A request may name any approval id; the pipeline refuses one of another system
    and records the id. Its votes must not reach a user scoped to the requesting system
    (they get 403 on that approval's own page)."""
    t = console.t
    policy = (
        POLICY
        + """  - id: big-loan
    systems: [loan-model]
    actions: [predict]
    when: action.args.income > 1000000
    effect: require_approval
    approvers: {roles: [finance_lead]}
    reason: big loans need a finance lead
"""
    )
    t.policies.publish(Policy.from_text(policy, "big-loan.yaml"), actor="user:root")
    other = refund(t)
    secret = "CONFIDENTIAL: customer 4711 is under fraud review"
    t.approvals.approve(other.approval_id, approver="user:lea", comment=secret)
    d = t.decide("loan-model", "predict", actor="svc:scoring", inputs={"income": 2_000_000},
                 approval_id=other.approval_id)  # fmt: skip
    assert d.outcome == "denied"
    scoped = console("auditor", systems=["loan-model"])
    assert scoped.get(f"/console/approvals/{other.approval_id}").status_code == 403
    page = scoped.get(f"/console/decisions/{d.id}")
    assert page.status_code == 200
    assert secret not in page.text
    assert 'id="approval"' not in page.text
