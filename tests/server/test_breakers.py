"""Breakers over HTTP: trip (the kill switch) stops the next decision; reset; list."""

from __future__ import annotations

from .conftest import Api

PREDICT = {"system": "loan-model", "action": "predict", "inputs": {"income": 1.0}}


def test_trip_stops_the_next_decision_and_reset_restores(api: Api) -> None:
    tripped = api.call("POST", "/v1/breakers/system:loan-model/trip", "operator",
                       json={"reason": "drift alarm"})  # fmt: skip
    assert (
        tripped.status_code, tripped.json()["state"], tripped.json()["manual"]
    ) == (200, "open", True)  # fmt: skip
    trip_entry = api.t.ledger.tail(1)[0]
    assert trip_entry.actor == "user:ops"
    d = api.call("POST", "/v1/decisions", "service", json=PREDICT).json()
    assert (d["outcome"], d["allowed"]) == ("circuit_open", False)
    listed = api.call("GET", "/v1/breakers", "auditor").json()
    assert [(b["key"], b["state"]) for b in listed["items"]] == [("system:loan-model", "open")]
    reset = api.call("POST", "/v1/breakers/system:loan-model/reset", "operator",
                     json={"reason": "retrained"})  # fmt: skip
    assert (reset.status_code, reset.json()["state"]) == (200, "closed")
    d = api.call("POST", "/v1/decisions", "service", json=PREDICT).json()
    assert d["outcome"] == "allowed"


def test_an_action_breaker_key_with_a_slash(api: Api) -> None:
    response = api.call("POST", "/v1/breakers/action:support-bot/refund/trip", "admin",
                        json={"reason": "refund storm"})  # fmt: skip
    assert (response.status_code, response.json()["key"]) == (200, "action:support-bot/refund")


def test_a_trip_needs_a_reason_and_a_valid_key(api: Api) -> None:
    size = api.t.ledger.size
    no_reason = api.call("POST", "/v1/breakers/system:loan-model/trip", "admin",
                         json={"reason": ""})  # fmt: skip
    bad_key = api.call("POST", "/v1/breakers/..%2Fetc/trip", "admin", json={"reason": "x"})
    assert (no_reason.status_code, bad_key.status_code) == (422, 422)
    assert size == api.t.ledger.size


def test_a_system_scoped_operator_cannot_trip_an_agent_breaker(api: Api) -> None:
    scoped = api.token("user:ops", "operator", systems=["loan-model"])
    response = api.call("POST", "/v1/breakers/agent:support/trip", scoped, json={"reason": "x"})
    assert response.status_code == 403


def test_a_slash_in_system_names_does_not_widen_a_token_s_scope(api: Api) -> None:
    for name in ("team", "team/loans"):
        api.t.systems.register(name, kind="model", owner="credit", risk_tier="high",
                               actor="user:root")  # fmt: skip
    team = api.token("user:ops", "operator", systems=["team"])
    path = "/v1/breakers/action:team/loans/refund/trip"
    assert api.call("POST", path, team, json={"reason": "x"}).status_code == 403
    assert api.t.breakers.state("action:team/loans/refund").state == "closed"
    listed = api.call("GET", "/v1/breakers", team).json()["items"]
    assert all(not b["key"].startswith("action:team/loans/") for b in listed)
    both = api.token("user:ops", "operator", systems=["team", "team/loans"])  # both readings
    assert api.call("POST", path, both, json={"reason": "x"}).status_code == 200
