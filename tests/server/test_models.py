"""Systems, versions, aliases and gates over HTTP: moves governed by policy and gates,
recorded with the token's actor; refusals come back through the one error mapping."""

from __future__ import annotations

from typing import Any

import pytest
from tests.pipeline.conftest import POLICY

from tether.policy import Policy

from .conftest import ACTORS, Api

MOVES = """\
  set_alias: {args: {alias: string, version: number, previous: number, kind: string,
                     reason: string}}
  set_gates: {args: {digest: string, reason: string}}
"""
MOVE_RULES = """\
  - id: loan-moves
    systems: [loan-model]
    actions: [set_alias, set_gates]
    effect: allow
  - id: candidate-needs-cfo
    actions: [set_alias]
    when: action.args.alias == "candidate"
    effect: require_approval
    approvers: {roles: [cfo]}
"""
PROMOTE = "/v1/systems/loan-model/promote"


@pytest.fixture
def models(api: Api) -> Api:
    """``api`` whose policy lets loan-model's aliases move (candidate: with a CFO's
    approval), with versions 1 (auc 0.8) and 2 (auc 0.7) registered."""
    text = POLICY.replace("  predict: {args: {income: number}}\n",
                        "  predict: {args: {income: number}}\n" + MOVES) + MOVE_RULES  # fmt: skip
    api.t.policies.publish(Policy.from_text(text, "models.yaml"), actor="user:root")
    for auc in (0.8, 0.7):
        api.t.models.register("loan-model", b"model %f" % auc, uri=f"mem://loan/{auc}",
                              actor="user:own", metrics={"auc": auc}, code=None)  # fmt: skip
    return api


def error(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body["error"]) >= {"type", "message", "hint"}, body
    return response.status_code, str(body["error"]["type"])


@pytest.mark.parametrize("role", tuple(ACTORS))
def test_roles(models: Api, role: str) -> None:
    reads = ("/v1/systems", "/v1/systems/loan-model/versions", "/v1/systems/loan-model/versions/1",
             "/v1/systems/loan-model/aliases/champion/history", "/v1/systems/loan-model/gates",
             "/v1/systems/loan-model/gates/versions")  # fmt: skip
    for path in reads:
        assert models.call("GET", path, role).status_code == 200, path
        assert error(models.call("GET", path, None)) == (401, "Unauthenticated")
    body = {"version": 1, "reason": "matrix"}
    promoted = models.call("POST", PROMOTE, role, json=body)
    rolled = models.call("POST", "/v1/systems/loan-model/rollback", role, json={"reason": "m"})
    if role in ("admin", "owner"):
        assert promoted.status_code == 200, promoted.json()
        assert error(rolled) == (409, "Conflict")  # admitted; nothing to roll back to
    else:
        assert error(promoted) == (403, "Forbidden")
        assert error(rolled) == (403, "Forbidden")
    assert error(models.call("POST", PROMOTE, None, json=body)) == (401, "Unauthenticated")


def test_promote_and_rollback_are_recorded_with_the_token_s_actor(models: Api) -> None:
    first = models.call("POST", PROMOTE, "owner", json={"version": 1, "reason": "launch"})
    assert (first.status_code, first.json()["version"], first.json()["kind"]) == (
        200, 1, "promote"
    )  # fmt: skip
    second = models.call("POST", PROMOTE, "admin", json={"version": 2, "reason": "retrained"})
    assert second.status_code == 200
    back = models.call("POST", "/v1/systems/loan-model/rollback", "owner",
                       json={"reason": "error rate doubled"})  # fmt: skip
    assert (back.status_code, back.json()["version"], back.json()["previous"]) == (200, 1, 2)
    moves = [models.t.ledger.get(r.json()["ledger_index"]) for r in (first, second, back)]
    assert [(e.kind, e.actor) for e in moves] == [
        ("alias.moved", "user:own"), ("alias.moved", "user:root"), ("alias.moved", "user:own")
    ]  # fmt: skip
    history = models.call("GET", "/v1/systems/loan-model/aliases/champion/history?limit=2",
                          "auditor").json()  # fmt: skip
    assert [(m["version"], m["actor"]) for m in history["items"]] == [(1, "user:own"),
                                                                      (2, "user:root")]  # fmt: skip
    rest = models.call("GET", "/v1/systems/loan-model/aliases/champion/history?limit=2&cursor="
                       + history["next"], "auditor").json()  # fmt: skip
    assert ([m["kind"] for m in rest["items"]], rest["next"]) == (["rollback"], None)


def test_approval_required_carries_the_approval_id(models: Api) -> None:
    response = models.call(
        "POST", PROMOTE, "owner", json={"version": 1, "reason": "shadow it", "alias": "candidate"}
    )
    assert error(response) == (403, "ApprovalRequired")
    approval_id = response.json()["error"]["approval_id"]
    approval = models.t.approvals.get(approval_id)
    assert (approval.requester, approval.action, approval.state) == (
        "user:own", "set_alias", "pending"
    )  # fmt: skip
    models.t.approvals.approve(approval_id, approver="user:cfo", comment="ok")
    again = models.call("POST", PROMOTE, "owner", json={"version": 1, "reason": "shadow it",
                        "alias": "candidate", "approval_id": approval_id})  # fmt: skip
    assert (again.status_code, again.json()["alias"]) == (200, "candidate")


def test_failing_gates_refuse_the_promotion(models: Api) -> None:
    models.t.gates.set("loan-model", {"metrics": [{"metric": "auc", "min": 0.75}],
                                      "signoff": {"required": "never"}},
                       actor="user:root", reason="launch criteria")  # fmt: skip
    low = models.t.models.register("loan-model", b"low", uri="mem://loan/low", actor="user:own",
                                   metrics={"auc": 0.6}, code=None)  # fmt: skip
    gates = models.call("GET", "/v1/systems/loan-model/gates", "auditor").json()
    assert (gates["current"]["version"], gates["current"]["spec"]["metrics"][0]["min"]) == (1, 0.75)
    listed = models.call("GET", "/v1/systems/loan-model/gates/versions", "owner").json()
    assert [g["version"] for g in listed["items"]] == [1]
    response = models.call("POST", PROMOTE, "owner",
                           json={"version": low.version, "reason": "try"})  # fmt: skip
    assert error(response) == (403, "GateFailed")
    assert "auc" in response.json()["error"]["message"]
    assert not [e for e in models.t.ledger.tail(5) if e.kind == "alias.moved"]


def test_reads(models: Api) -> None:
    systems = models.call("GET", "/v1/systems?limit=1", "service").json()
    assert (len(systems["items"]), systems["next"] is not None) == (1, True)
    scoped = models.token("user:own", "owner", systems=["loan-model"])
    mine = models.call("GET", "/v1/systems", scoped).json()
    assert [s["name"] for s in mine["items"]] == ["loan-model"]
    versions = models.call("GET", "/v1/systems/loan-model/versions", "auditor").json()
    assert [(v["version"], v["metrics"]["auc"]) for v in versions["items"]] == [(1, 0.8), (2, 0.7)]
    assert error(models.call("GET", "/v1/systems/loan-model/versions/9", "auditor")) == (
        404, "NotFound"
    )  # fmt: skip
    assert error(models.call("GET", "/v1/systems/nope/versions", "auditor")) == (404, "NotFound")
    other = models.token("user:own", "owner", systems=["support-bot"])
    assert error(models.call("GET", "/v1/systems/loan-model/versions", other)) == (
        403, "Forbidden"
    )  # fmt: skip


def test_bad_moves_are_refused_and_nothing_written(models: Api) -> None:
    other = models.token("user:own", "owner", systems=["support-bot"])
    size = models.t.ledger.size
    for bad in (
        {"version": 0, "reason": "x"},
        {"version": "1", "reason": "x"},
        {"version": 1, "reason": ""},
        {"version": 1},
        {"version": 1, "reason": "x", "actor": "user:root"},
        {"version": 1, "reason": "x", "alias": "../etc"},
    ):
        assert error(models.call("POST", PROMOTE, "owner", json=bad)) == (422, "InvalidInput"), bad
    assert models.call("POST", "/v1/systems/a;drop/promote", "owner",
                       json={"version": 1, "reason": "x"}).status_code == 422  # fmt: skip
    assert error(models.call("POST", PROMOTE, "owner", json={"version": 9, "reason": "x"})) == (
        404, "NotFound"
    )  # fmt: skip
    assert error(models.call("POST", PROMOTE, other, json={"version": 1, "reason": "x"})) == (
        403, "Forbidden"
    )  # fmt: skip
    assert size == models.t.ledger.size


def test_openapi_lists_the_v1_endpoints_of_outcomes_systems_signals_ledger_policies(
    api: Api,
) -> None:
    paths = set(api.client.get("/openapi.json").json()["paths"])
    assert {
        "/v1/decisions/{decision_id}/outcome",
        "/v1/feedback",
        "/v1/systems",
        "/v1/systems/{name}/versions",
        "/v1/systems/{name}/versions/{number}",
        "/v1/systems/{name}/aliases/{alias}/history",
        "/v1/systems/{name}/promote",
        "/v1/systems/{name}/rollback",
        "/v1/systems/{name}/gates",
        "/v1/systems/{name}/gates/versions",
        "/v1/signals",
        "/v1/ledger/checkpoint",
        "/v1/ledger/receipts/{index}",
        "/v1/ledger/verify",
        "/v1/policies/current",
        "/v1/policies",
        "/v1/policies/test",
    } <= paths


def test_failing_gates_overridden_by_a_named_person_over_http(models: Api) -> None:
    models.t.gates.set("loan-model", {"metrics": [{"metric": "auc", "min": 0.75}],
                                      "signoff": {"required": "never"}},
                       actor="user:root", reason="launch criteria")  # fmt: skip
    low = models.t.models.register("loan-model", b"low", uri="mem://loan/low", actor="user:own",
                                   metrics={"auc": 0.6}, code=None)  # fmt: skip
    body = {"version": low.version, "reason": "hotfix", "override_by": "user:root",
            "justification": "the old model is leaking PII; auc is secondary"}  # fmt: skip
    first = models.call("POST", PROMOTE, "owner", json=body)
    assert error(first) == (403, "ApprovalRequired")
    aid = first.json()["error"]["approval_id"]
    voted = models.call("POST", f"/v1/approvals/{aid}/approve", "admin", json={"comment": "ok"})
    assert voted.status_code == 200, voted.json()
    moved = models.call("POST", PROMOTE, "owner", json={**body, "approval_id": aid})
    assert moved.status_code == 200, moved.json()
    assert (moved.json()["version"], moved.json()["actor"]) == (low.version, "user:own")
    assert [e.kind for e in models.t.ledger.tail(10)].count("gates.overridden") == 1


def test_a_gate_override_needs_its_justification(models: Api) -> None:
    for extra, message in (({"override_by": "user:root"}, "go together"),
                           ({"justification": "ten and more"}, "go together"),
                           ({"override_by": "user:root", "justification": "too short"},
                            "justification: String should have at least 10")):  # fmt: skip
        response = models.call("POST", PROMOTE, "owner",
                               json={"version": 1, "reason": "r", **extra})  # fmt: skip
        assert response.status_code == 422, response.json()
        assert message in response.json()["error"]["message"]
