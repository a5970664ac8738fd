"""Policies over HTTP: read the one in force, publish (admin; bad text listed, nothing
published), test a text against cases without publishing it."""

from __future__ import annotations

from typing import Any

import pytest
from tests.pipeline.conftest import POLICY

from .conftest import ACTORS, Api

NEW_RULE = """\
  - id: scoring-reads
    systems: [support-bot]
    actions: [read_customer]
    when: '"scoring" in actor.roles'
    effect: allow
"""
READ = {"system": "support-bot", "action": "read_customer", "inputs": {"customer": "c1"}}
TEST_ROLES = {"admin", "owner", "auditor"}


def request(role: str) -> dict[str, Any]:
    return {"actor": {"id": "svc:x", "roles": [role]}, "system": {"name": "support-bot"},
            "action": {"name": "read_customer", "args": {"customer": "c1"}}}  # fmt: skip


@pytest.mark.parametrize("role", tuple(ACTORS))
def test_roles(api: Api, role: str) -> None:
    current = api.call("GET", "/v1/policies/current", role)
    assert current.status_code == 200
    published = api.call("POST", "/v1/policies", role, json={"text": POLICY})
    tested = api.call("POST", "/v1/policies/test", role,
                      json={"text": POLICY, "cases": [{"request": request("x"),
                                                       "expect": "deny"}]})  # fmt: skip
    for response, admitted in ((published, {"admin"}), (tested, TEST_ROLES)):
        if role in admitted:
            assert response.status_code == 200, response.json()
        else:
            assert (response.status_code, response.json()["error"]["type"]) == (403, "Forbidden")
    for method, path in (("GET", "/v1/policies/current"), ("POST", "/v1/policies"),
                         ("POST", "/v1/policies/test")):  # fmt: skip
        assert api.call(method, path, None, json={"text": POLICY}).status_code == 401


def test_publish_is_recorded_with_the_token_s_actor_and_enforced(api: Api) -> None:
    before = api.call("GET", "/v1/policies/current", "service").json()
    assert (before["name"], before["text"], before["shadow"]) == ("test-governance", POLICY, None)
    denied = api.call("POST", "/v1/decisions", "service", json=READ).json()
    assert denied["outcome"] == "denied"
    response = api.call("POST", "/v1/policies", "admin", json={"text": POLICY + NEW_RULE})
    assert (response.status_code, response.json()["version"]) == (200, before["version"] + 1)
    entry = api.t.ledger.get(response.json()["ledger_index"])
    assert (entry.kind, entry.actor, entry.payload["mode"]) == (
        "policy.published", "user:root", "enforced"
    )  # fmt: skip
    after = api.call("GET", "/v1/policies/current", "auditor").json()
    assert (after["version"], after["published_by"], after["text"]) == (
        before["version"] + 1, "user:root", POLICY + NEW_RULE
    )  # fmt: skip
    allowed = api.call("POST", "/v1/decisions", "service", json=READ).json()
    assert allowed["outcome"] == "allowed"


def test_a_shadow_policy_is_not_enforced(api: Api) -> None:
    response = api.call("POST", "/v1/policies", "admin",
                        json={"text": POLICY + NEW_RULE, "shadow": True})  # fmt: skip
    assert (response.status_code, response.json()["mode"]) == (200, "shadow")
    current = api.call("GET", "/v1/policies/current", "auditor").json()
    assert (current["text"], current["shadow"]["version"]) == (POLICY, response.json()["version"])


def test_a_bad_policy_lists_its_problems_and_nothing_is_published(api: Api) -> None:
    scoped = api.token("user:root", "admin", systems=["loan-model"])
    size, version = api.t.ledger.size, api.t.policies.enforced().version  # type: ignore[union-attr]
    bad = POLICY.replace("effect: allow", "efect: allow", 1) + "  - id: x\n    effect: maybe\n"
    response = api.call("POST", "/v1/policies", "admin", json={"text": bad})
    error = response.json()["error"]
    assert (response.status_code, error["type"]) == (422, "PolicyError")
    assert len(error["problems"]) >= 2
    assert all(p.startswith("policy.yaml:") for p in error["problems"])
    for body in ({"text": ""}, {"text": POLICY, "mode": "enforced"}, {"text": 1}, {}):
        response = api.call("POST", "/v1/policies", "admin", json=body)
        assert (response.status_code, response.json()["error"]["type"]) == (422, "InvalidInput")
    assert api.call("POST", "/v1/policies", scoped, json={"text": POLICY}).status_code == 403
    assert api.call("GET", "/v1/policies/current", scoped).status_code == 403
    assert (size, version) == (api.t.ledger.size, api.t.policies.enforced().version)  # type: ignore[union-attr]


def test_policy_cases_run_without_publishing(api: Api) -> None:
    size = api.t.ledger.size
    cases = [
        {"name": "support reads", "request": request("support"), "expect": "allow"},
        {"request": request("scoring"), "expect": {"effect": "allow", "rules": ["scoring-reads"]}},
        {"name": "wrong", "request": request("nobody"), "expect": "allow"},
    ]
    result = api.call("POST", "/v1/policies/test", "owner",
                      json={"text": POLICY + NEW_RULE, "cases": cases}).json()  # fmt: skip
    assert result["passed"] is False
    assert [(r["name"], r["passed"], r["effect"]) for r in result["results"]] == [
        ("support reads", True, "allow"), ("case 2", True, "allow"), ("wrong", False, "deny")
    ]  # fmt: skip
    bad = api.call(
        "POST",
        "/v1/policies/test",
        "owner",
        json={"text": POLICY, "cases": [{"request": {}, "expect": "maybe"}]},
    )
    assert (bad.status_code, bad.json()["error"]["type"]) == (422, "InvalidInput")
    assert size == api.t.ledger.size


# -- POST /v1/policies/replay -------------------------------------------------------------

STRICTER = POLICY.replace(
    "actions: [read_customer, send_email, refund, flaky]", "actions: [send_email, refund, flaky]"
)
"""The policy in force, without ``read_customer`` for support: those would be denied."""


def _replayable(api: Api, clock: Any) -> list[str]:
    """Three allowed reads (minutes 0, 1, 2) and one denial by policy (minute 3)."""
    ids = []
    for _ in range(3):
        ids.append(api.t.decide(actor="agent:support", **READ).id)  # type: ignore[arg-type]
        clock.advance(minutes=1)
    api.t.decide("support-bot", "refund", actor="svc:scoring", inputs={"amount": 1.0})
    return ids


def test_replay_lists_the_decisions_the_candidate_would_change(api: Api, clock: Any) -> None:
    ids = _replayable(api, clock)
    size = api.t.ledger.size
    response = api.call("POST", "/v1/policies/replay", "auditor", json={"text": STRICTER})
    body = response.json()
    assert response.status_code == 200, body
    assert (body["policy"], body["replayed"], body["changed"], body["truncated"]) == (
        "test-governance", 4, 3, False
    )  # fmt: skip
    assert [c["decision_id"] for c in body["changes"]] == ids
    first = body["changes"][0]
    assert (first["system"], first["action"], first["actor"]) == (
        "support-bot", "read_customer", "agent:support"
    )  # fmt: skip
    assert (first["before"], first["after"]["effect"]) == (
        {"effect": "allow", "rules": ["support-may-act"]}, "deny"
    )  # fmt: skip
    assert "3 would change" in body["summary"]
    assert api.t.ledger.size == size  # a replay writes nothing


def test_replay_is_bounded_by_time_and_limit(api: Api, clock: Any) -> None:
    ids = _replayable(api, clock)
    ranged = api.call("POST", "/v1/policies/replay", "admin",
                      json={"text": STRICTER, "since": "2026-01-01T00:01:00Z",
                            "until": "2026-01-01T01:02:00+01:00"}).json()  # fmt: skip
    assert ([c["decision_id"] for c in ranged["changes"]], ranged["replayed"]) == ([ids[1]], 1)
    limited = api.call("POST", "/v1/policies/replay", "owner",
                       json={"text": STRICTER, "limit": 2}).json()  # fmt: skip
    assert ([c["decision_id"] for c in limited["changes"]], limited["changed"]) == (ids[:2], 3)
    assert limited["truncated"] is True


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"text": "policy: ["}, 422, "policy.yaml:"),
        ({"text": POLICY, "since": "last week"}, 422, "since 'last week' is not an ISO-8601"),
        ({"text": POLICY, "until": "2026-01-01T00:00:00"}, 422, "has no UTC offset"),
        ({"text": POLICY, "since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
         422, "must be before until"),
        ({"text": POLICY, "limit": 501}, 422, "limit: Input should be less than or equal"),
        ({"text": POLICY, "actor": "user:root"}, 422, "actor: unknown field"),
    ],
)  # fmt: skip
def test_replay_refuses_bad_input(
    api: Api, body: dict[str, Any], status: int, message: str
) -> None:
    response = api.call("POST", "/v1/policies/replay", "admin", json=body)
    assert response.status_code == status, response.json()
    assert message in response.json()["error"]["message"]


def test_replay_needs_an_unscoped_token(api: Api) -> None:
    scoped = api.token("user:aud", "auditor", systems=["support-bot"])
    response = api.call("POST", "/v1/policies/replay", scoped, json={"text": POLICY})
    assert (response.status_code, response.json()["error"]["type"]) == (403, "Forbidden")
