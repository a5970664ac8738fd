"""The console overview: systems with live version, breakers, signals and approvals;
the ledger's head, checkpoint and last verification."""

from __future__ import annotations

import re

import pytest
from tests.pipeline.conftest import POLICY
from tests.server.console.conftest import Console
from tests.server.test_models import MOVE_RULES, MOVES

from tether.monitoring import Signal
from tether.policy import Policy


def row(html: str, system: str) -> dict[str, str]:
    """The overview cells of one system, by data-test name (tags stripped)."""
    found = re.search(rf'<tr data-test="system-{re.escape(system)}">(.*?)</tr>', html, re.S)
    assert found is not None, f"no row for {system}"
    cells = re.findall(r'<td[^>]*data-test="([a-z]+)"[^>]*>(.*?)</td>', found.group(1), re.S)
    return {name: " ".join(re.sub(r"<[^>]+>", " ", text).split()) for name, text in cells}


def promote_loan_model(console: Console) -> None:
    text = POLICY.replace("  predict: {args: {income: number}}\n",
                          "  predict: {args: {income: number}}\n" + MOVES) + MOVE_RULES  # fmt: skip
    t = console.t
    t.policies.publish(Policy.from_text(text, "models.yaml"), actor="user:root")
    for n in (1, 2):
        t.models.register("loan-model", b"model %d" % n, uri=f"mem://loan/{n}", actor="user:own",
                          code=None, environment=None)  # fmt: skip
    t.models.set_alias("loan-model", "champion", 2, actor="user:own", reason="better")


def test_each_system_with_its_live_version_breakers_signals_and_approvals(
    console: Console,
) -> None:
    promote_loan_model(console)
    t = console.t
    t.signals.emit(Signal("drift", "loan-model", "high", "psi", 0.41, 0.12, feature="income"))
    t.signals.flush()
    d = t.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 5000.0},
                 context={"limit": 10**6})  # fmt: skip
    assert d.approval_id is not None
    t.breakers.trip("system:support-bot", actor="user:ops", reason="runaway refunds")

    page = console("owner").get("/console/")

    assert page.status_code == 200
    assert 'aria-current="page"' in page.text
    loan, bot = row(page.text, "loan-model"), row(page.text, "support-bot")
    assert (loan["live"], loan["breakers"], loan["signals"], loan["approvals"]) == (
        "v2",
        "closed",
        "1",
        "0",
    )
    assert (bot["live"], bot["breakers"], bot["signals"], bot["approvals"]) == (
        "—",
        "system:support-bot: open",
        "0",
        "1",
    )
    assert "credit" in page.text  # the owner
    assert "tier-high" in page.text


def test_a_scoped_user_sees_only_their_systems_and_no_ledger(console: Console) -> None:
    page = console("operator", ["loan-model"]).get("/console/")
    assert 'data-test="system-loan-model"' in page.text
    assert 'data-test="system-support-bot"' not in page.text
    assert 'data-test="ledger"' not in page.text
    assert "loan-model" in page.text  # the scope is shown beside the user


@pytest.mark.parametrize(("role", "ledger", "verify"), [
    ("admin", True, True), ("auditor", True, True), ("owner", True, False),
    ("operator", False, False), ("approver", False, False),
])  # fmt: skip
def test_who_sees_the_ledger_and_who_may_verify_it(
    console: Console, role: str, ledger: bool, verify: bool
) -> None:
    page = console(role).get("/console/").text
    assert ('data-test="ledger"' in page) is ledger
    assert ('id="verify-ledger"' in page) is verify


def test_verify_now_records_the_result_and_shows_it(console: Console) -> None:
    auditor = console("auditor")
    before = auditor.get("/console/").text
    assert 'data-test="integrity-unknown"' in before
    t = console.t
    t.ledger.checkpoint()
    size = t.ledger.size

    done = auditor.form("/console/ledger/verify")

    assert (done.status_code, done.headers["location"]) == (303, "/console/")
    entry = t.ledger.tail(1)[0]
    assert (entry.kind, entry.actor, entry.payload["ok"], entry.payload["size"]) == (
        "ledger.verified",
        "user:aud",
        True,
        size,
    )
    page = auditor.get("/console/").text
    assert "The ledger verifies" in page  # the message after the redirect, once
    assert 'data-test="integrity-ok"' in page
    assert f"covers {size} entries" in page
    assert "The ledger verifies" not in auditor.get("/console/").text


@pytest.mark.parametrize("role", ["owner", "operator", "approver"])
def test_only_auditors_and_admins_verify(console: Console, role: str) -> None:
    client = console(role)
    size = console.t.ledger.size
    refused = client.form("/console/ledger/verify")
    assert refused.status_code == 403
    assert console.t.ledger.size == size


def test_a_scoped_auditor_may_not_verify_the_whole_ledger(console: Console) -> None:
    refused = console("auditor", ["loan-model"]).form("/console/ledger/verify")
    assert refused.status_code == 403
    assert "scoped to systems" in refused.text


def test_console_redirects_to_the_overview(console: Console) -> None:
    client = console("auditor")
    r = client.get("/console", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/")
