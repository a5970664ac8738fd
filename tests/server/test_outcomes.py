"""Outcomes and feedback over HTTP: recorded with the token's actor, own decisions only."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ACTORS, Api

PREDICT = {"system": "loan-model", "action": "predict", "inputs": {"income": 1.0}}


def decide(api: Api, who: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.call("POST", "/v1/decisions", who, json=body or PREDICT)
    assert response.status_code == 200, response.json()
    result: dict[str, Any] = response.json()
    return result


def error_type(response: Any) -> str:
    body = response.json()
    assert set(body["error"]) >= {"type", "message", "hint"}
    return str(body["error"]["type"])


@pytest.mark.parametrize("role", tuple(ACTORS))
def test_outcome_roles(api: Api, role: str) -> None:
    submitter = role if role in ("admin", "service", "agent") else "admin"
    body = (
        {"system": "support-bot", "action": "read_customer", "inputs": {"customer": "c1"}}
        if role == "agent"
        else PREDICT
    )
    d = decide(api, submitter, body)
    response = api.call("POST", f"/v1/decisions/{d['id']}/outcome", role, json={})
    if role in ("admin", "service", "agent"):
        assert response.status_code == 200, response.json()
    else:
        assert (response.status_code, error_type(response)) == (403, "Forbidden")
    assert api.call("POST", f"/v1/decisions/{d['id']}/outcome", None, json={}).status_code == 401


def test_an_outcome_is_in_the_ledger_with_the_token_s_actor(api: Api) -> None:
    d = decide(api, "service")
    response = api.call("POST", f"/v1/decisions/{d['id']}/outcome", "service",
                        json={"output": {"score": 0.3}})  # fmt: skip
    assert (response.status_code, response.json()["status"]) == (200, "executed")
    entry = api.t.ledger.get(response.json()["ledger_index"])
    assert ("decision.outcome", "svc:scoring", d["id"], "executed") == (
        entry.kind, entry.actor, entry.payload["decision"], entry.payload["status"]
    )  # fmt: skip
    failed = api.call("POST", f"/v1/decisions/{d['id']}/outcome", "service",
                      json={"error": "timeout upstream"})  # fmt: skip
    assert failed.json()["status"] == "failed"
    assert api.t.ledger.get(failed.json()["ledger_index"]).payload["error"] == "timeout upstream"


def test_only_the_deciding_actor_reports_and_nothing_is_written_otherwise(api: Api) -> None:
    d = decide(api, "service")
    denied = decide(api, "service", {"system": "support-bot", "action": "refund",
                                     "inputs": {"amount": 1.0}})  # fmt: skip
    assert denied["outcome"] == "denied"
    scoped = api.token("svc:scoring", "service", systems=["support-bot"])
    size = api.t.ledger.size
    other = api.call("POST", f"/v1/decisions/{d['id']}/outcome", "admin", json={})
    assert (other.status_code, error_type(other)) == (403, "Forbidden")
    not_run = api.call("POST", f"/v1/decisions/{denied['id']}/outcome", "service", json={})
    assert (not_run.status_code, error_type(not_run)) == (422, "InvalidInput")
    unknown = api.call("POST", "/v1/decisions/dec_nope/outcome", "service", json={})
    assert (unknown.status_code, error_type(unknown)) == (404, "NotFound")
    out_of_scope = api.call("POST", f"/v1/decisions/{d['id']}/outcome", scoped, json={})
    assert out_of_scope.status_code == 403
    for bad in ({"actor": "svc:scoring"}, {"error": ""}, {"error": 5}):
        response = api.call("POST", f"/v1/decisions/{d['id']}/outcome", "service", json=bad)
        assert (response.status_code, error_type(response)) == (422, "InvalidInput"), bad
    bad_id = api.call("POST", "/v1/decisions/x';--/outcome", "service", json={})
    assert bad_id.status_code in (404, 422)
    assert size == api.t.ledger.size


@pytest.mark.parametrize("role", tuple(ACTORS))
def test_feedback_roles(api: Api, role: str) -> None:
    body = {"labels": [{"decision_id": "dec_unknown", "label": 1}]}
    response = api.call("POST", "/v1/feedback", role, json=body)
    if role in ("admin", "service"):
        assert response.status_code == 200, response.json()
    else:
        assert (response.status_code, error_type(response)) == (403, "Forbidden")
    assert api.call("POST", "/v1/feedback", None, json=body).status_code == 401


def test_feedback_joins_labels_with_the_token_s_actor(api: Api) -> None:
    first, second = decide(api, "service"), decide(api, "service")
    body = {"labels": [{"decision_id": first["id"], "label": 1},
                       {"decision_id": "dec_missing", "label": 0}]}  # fmt: skip
    result = api.call("POST", "/v1/feedback", "service", json=body).json()
    assert (result["joined"], result["duplicates"], result["unknown"]) == (
        [first["id"]], [], ["dec_missing"]
    )  # fmt: skip
    entry = api.t.ledger.get(result["ledger_index"])
    assert (entry.kind, entry.actor) == ("feedback", "svc:scoring")
    again = {"labels": [{"decision_id": first["id"], "label": 0},
                        {"decision_id": second["id"], "label": 0}]}  # fmt: skip
    result = api.call("POST", "/v1/feedback", "admin", json=again).json()
    assert (result["joined"], result["duplicates"]) == ([second["id"]], [first["id"]])
    assert api.t.ledger.get(result["ledger_index"]).actor == "user:root"


def test_bad_feedback_is_refused_and_nothing_written(api: Api) -> None:
    d = decide(api, "service")
    scoped = api.token("svc:scoring", "service", systems=["support-bot"])
    size = api.t.ledger.size
    bodies: list[dict[str, Any]] = [
        {"labels": []},
        {"labels": [{"decision_id": d["id"]}]},
        {"labels": [{"decision_id": "../etc", "label": 1}]},
        {"labels": [{"decision_id": d["id"], "label": 1, "by": "x"}]},
        {"labels": [{"decision_id": d["id"], "label": 1}], "actor": "user:root"},
    ]
    for bad in bodies:
        response = api.call("POST", "/v1/feedback", "service", json=bad)
        assert (response.status_code, error_type(response)) == (422, "InvalidInput"), bad
    body = {"labels": [{"decision_id": d["id"], "label": 1}]}
    assert api.call("POST", "/v1/feedback", scoped, json=body).status_code == 403
    assert size == api.t.ledger.size
