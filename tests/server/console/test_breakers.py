"""The console's breakers page: states, and trip/reset (the kill switch) by operators and
admins with a reason and a confirmation, ledgered with the user's actor."""

from __future__ import annotations

import re

import pytest
from tests.server.console.conftest import Console


def breaker_row(html: str, test_id: str) -> str:
    found = re.search(rf'<tr id="[^"]*" data-test="breaker-{re.escape(test_id)}".*?</tr>', html,
                      re.S)  # fmt: skip
    assert found is not None, f"no row breaker-{test_id}"
    return found.group(0)


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_a_trip_and_a_reset_go_through_the_ledger_with_the_user_s_actor(
    console: Console, role: str
) -> None:
    client = console(role)
    page = client.get("/console/breakers").text
    assert 'form method="post" action="/console/breakers/trip" data-test="trip-loan-model"' in page
    assert "I understand this stops every action of system loan-model" in page

    tripped = client.form("/console/breakers/trip", key="system:loan-model",
                          reason="scores look wrong", confirm="yes")  # fmt: skip

    assert (tripped.status_code, tripped.headers["location"]) == (
        303, "/console/breakers#system:loan-model"
    )  # fmt: skip
    entry = console.t.ledger.tail(1)[0]
    assert (entry.kind, entry.actor, entry.payload["reason"]) == (
        "breaker.tripped", client_actor(role), "scores look wrong"
    )  # fmt: skip
    d = console.t.decide("loan-model", "predict", actor="svc:scoring", inputs={"income": 1.0})
    assert d.outcome == "circuit_open"
    after = client.get("/console/breakers").text
    assert "Tripped system:loan-model: every action of system loan-model is stopped" in after
    row = breaker_row(after, "loan-model")
    assert 'data-state="open"' in row
    assert "scores look wrong" in row
    assert "2026-01-01 00:00:00 UTC" in row
    assert 'data-test="reset-loan-model"' in row
    assert 'data-test="trip-loan-model"' not in row  # already tripped by hand

    reset = client.form("/console/breakers/reset", key="system:loan-model",
                        reason="fixed the features", confirm="yes")  # fmt: skip

    assert reset.status_code == 303
    assert console.t.breakers.state("system:loan-model").state == "closed"
    assert console.t.ledger.tail(1)[0].kind == "breaker.reset"
    assert "Reset system:loan-model" in client.get("/console/breakers").text


def client_actor(role: str) -> str:
    return {"operator": "user:ops", "admin": "user:root"}[role]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reason": "x"}, "tick the box confirming"),
        ({"reason": "  ", "confirm": "yes"}, "give a reason"),
        ({"reason": "x", "confirm": "on"}, "tick the box confirming"),
    ],
)
def test_a_change_needs_a_reason_and_the_confirmation(
    console: Console, fields: dict[str, str], message: str
) -> None:
    client = console("operator")
    size = console.t.ledger.size
    refused = client.form("/console/breakers/trip", key="system:loan-model", **fields)
    assert refused.status_code == 422
    assert message in refused.text
    assert (console.t.ledger.size, console.t.breakers.state("system:loan-model").state) == (
        size, "closed"
    )  # fmt: skip


@pytest.mark.parametrize("role", ["auditor", "owner"])
def test_readers_see_breakers_but_cannot_trip_them(console: Console, role: str) -> None:
    console.t.breakers.trip("agent:agent:rogue", actor="user:ops", reason="looping")
    client = console(role)
    page = client.get("/console/breakers")
    assert page.status_code == 200
    assert 'data-state="open"' in breaker_row(page.text, "agent:agent:rogue")
    assert "/console/breakers/trip" not in page.text
    assert 'data-test="read-only"' in page.text
    size = console.t.ledger.size
    refused = client.form("/console/breakers/trip", key="system:loan-model", reason="x",
                          confirm="yes")  # fmt: skip
    assert refused.status_code == 403
    assert console.t.ledger.size == size


def test_approvers_do_not_see_breakers(console: Console) -> None:
    assert console("approver").get("/console/breakers").status_code == 403


def test_a_scoped_operator_sees_and_changes_only_their_systems(console: Console) -> None:
    client = console("operator", ["loan-model"])
    page = client.get("/console/breakers").text
    assert 'data-test="breaker-loan-model"' in page
    assert 'data-test="breaker-support-bot"' not in page
    assert "agent:agent:support" not in page  # agents span systems
    size = console.t.ledger.size
    for key in ("system:support-bot", "action:support-bot/refund", "agent:agent:support"):
        refused = client.form("/console/breakers/trip", key=key, reason="x", confirm="yes")
        assert refused.status_code == 403, key
    assert console.t.ledger.size == size
    ok = client.form("/console/breakers/trip", key="action:loan-model/predict", reason="x",
                     confirm="yes")  # fmt: skip
    assert ok.status_code == 303
    assert console.t.breakers.state("action:loan-model/predict").state == "open"


def test_a_malformed_key_is_refused(console: Console) -> None:
    client = console("admin")
    refused = client.form("/console/breakers/trip", key="loan-model", reason="x", confirm="yes")
    assert refused.status_code == 422
    assert "is not a key like system:S" in refused.text


def test_a_key_with_a_trailing_newline_is_refused(console: Console) -> None:
    """Otherwise the page would report a kill switch that stops nothing."""
    t, client = console.t, console("admin")
    size = t.ledger.size
    refused = client.form("/console/breakers/trip", key="system:loan-model\n", reason="x",
                          confirm="yes")  # fmt: skip
    assert refused.status_code == 422
    assert t.ledger.size == size
    assert [b.key for b in t.breakers.list() if b.state == "open"] == []


def test_a_slash_in_system_names_does_not_widen_a_scope(console: Console) -> None:
    """``action:team/loans/predict`` may be an action of ``team`` or of ``team/loans``:
    a user scoped to ``team`` neither sees nor changes it."""
    t = console.t
    for name in ("team", "team/loans"):
        t.systems.register(name, kind="model", owner="credit", risk_tier="high",
                           actor="user:root")  # fmt: skip
    key = "action:team/loans/predict"
    t.breakers.trip(key, actor="user:root", reason="incident 12")
    team = console("operator", systems=["team"])
    assert key not in team.get("/console/breakers").text
    refused = team.form("/console/breakers/reset", key=key, reason="x", confirm="yes")
    assert refused.status_code == 403
    assert t.breakers.state(key).state == "open"
    both = console("operator", systems=["team", "team/loans"], username="ops-both")
    assert key in both.get("/console/breakers").text
    assert (
        both.form("/console/breakers/reset", key=key, reason="ok", confirm="yes").status_code == 303
    )
    assert t.breakers.state(key).state == "closed"
