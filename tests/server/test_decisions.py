"""Decisions over HTTP: recorded in the ledger with the token's actor; approvals over HTTP."""

from __future__ import annotations

from typing import Any

from .conftest import Api

REFUND = {"system": "support-bot", "action": "refund", "inputs": {"amount": 5000.0},
          "context": {"limit": 10**6}}  # fmt: skip


def submit(api: Api, who: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.call("POST", "/v1/decisions", who, json=body)
    assert response.status_code == 200, response.json()
    result: dict[str, Any] = response.json()
    return result


def test_a_decision_is_in_the_ledger_with_the_token_s_actor(api: Api) -> None:
    d = submit(api, "service", {"system": "loan-model", "action": "predict",
                                "inputs": {"income": 52_000.0}})  # fmt: skip
    assert (
        d["outcome"], d["allowed"], d["actor"], d["rules"]
    ) == ("allowed", True, "svc:scoring", ["model-predicts"])  # fmt: skip
    entry = api.t.ledger.get(d["ledger_index"])
    assert ("decision", "svc:scoring", d["id"], {"income": 52_000.0}) == (
        entry.kind, entry.actor, entry.payload["id"], entry.payload["inputs"]
    )  # fmt: skip
    read = api.call("GET", f"/v1/decisions/{d['id']}", "auditor").json()
    assert (d["id"], "loan-model", d["ledger_index"], "svc:scoring") == (
        read["id"], read["system"], read["ledger_index"], read["record"]["actor"]
    )  # fmt: skip


def test_a_denial_is_a_recorded_decision_not_an_error(api: Api) -> None:
    d = submit(api, "service", {**REFUND, "inputs": {"amount": 1.0}})  # svc lacks "support"
    assert (d["outcome"], d["allowed"]) == ("denied", False)
    assert d["ledger_index"] >= 0


def test_an_unknown_decision_is_404(api: Api) -> None:
    response = api.call("GET", "/v1/decisions/dec_nope", "admin")
    assert (response.status_code, response.json()["error"]["type"]) == (404, "NotFound")


def test_require_approval_then_approve_over_http_then_run(api: Api) -> None:
    d = submit(api, "agent", REFUND)
    assert (d["outcome"], d["effect"]) == ("pending_approval", "require_approval")
    aid = d["approval_id"]
    inbox = api.call("GET", "/v1/approvals", "approver").json()
    assert [aid] == [a["id"] for a in inbox["items"]]
    assert inbox["next"] is None
    first = api.call("POST", f"/v1/approvals/{aid}/approve", "approver",
                     json={"comment": "invoice checked"})  # fmt: skip
    assert (first.status_code, first.json()["state"]) == (200, "pending")
    second = api.call("POST", f"/v1/approvals/{aid}/approve", "owner", json={"comment": "ok"})
    assert (second.status_code, second.json()["state"]) == (200, "approved")
    entries = [e for e in api.t.ledger.iter_entries() if e.subject == f"approval/{aid}"]
    assert [(e.kind, e.actor) for e in entries] == [
        ("approval.requested", "agent:support"),
        ("approval.vote", "user:lea"),
        ("approval.approved", "user:own"),
    ]
    ran = submit(api, "agent", {**REFUND, "approval_id": aid})
    assert ("allowed", aid) == (ran["outcome"], ran["approval_id"])


def test_no_self_approval_over_http(api: Api) -> None:
    api.t.actors.register("user:req", kind="human", roles=["support", "finance_lead"],
                          attributes={"approve_tiers": ["limited"]}, actor="admin")  # fmt: skip
    d = submit(api, api.token("user:req", "admin"), REFUND)
    response = api.call("POST", f"/v1/approvals/{d['approval_id']}/approve",
                        api.token("user:req", "approver"), json={"comment": "mine"})  # fmt: skip
    assert (response.status_code, response.json()["error"]["type"]) == (422, "InvalidInput")
    assert "no self-approval" in response.json()["error"]["message"]


def test_an_agent_never_approves(api: Api) -> None:
    d = submit(api, "agent", REFUND)
    # agent:helper holds finance_lead, but an agent token is refused by role...
    helper = api.token("agent:helper", "agent")
    response = api.call("POST", f"/v1/approvals/{d['approval_id']}/approve", helper, json={})
    assert response.status_code == 403
    # ...and the approvals service refuses agents whatever the token says.
    assert api.t.approvals.get(d["approval_id"]).state != "approved"


def test_reject_needs_a_comment(api: Api) -> None:
    aid = submit(api, "agent", REFUND)["approval_id"]
    response = api.call("POST", f"/v1/approvals/{aid}/reject", "approver", json={})
    assert (response.status_code, response.json()["error"]["type"]) == (422, "InvalidInput")
    response = api.call("POST", f"/v1/approvals/{aid}/reject", "approver",
                        json={"comment": "no invoice"})  # fmt: skip
    assert (response.status_code, response.json()["state"]) == (200, "rejected")


def test_the_inbox_pages(api: Api) -> None:
    ids = [submit(api, "agent", REFUND)["approval_id"] for _ in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", f"/v1/approvals{query}", "admin").json()
        assert len(page["items"]) <= 2
        seen += [a["id"] for a in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(ids) == sorted(seen)


def test_an_unusable_approval_is_a_denial_naming_it(api: Api) -> None:
    aid = submit(api, "agent", REFUND)["approval_id"]  # pending: not approved yet
    d = submit(api, "agent", {**REFUND, "approval_id": aid})
    assert (d["outcome"], d["rules"], d["approval_id"]) == (
        "denied", ["tether:approval-not-usable"], aid,
    )  # fmt: skip
    assert api.t.ledger.get(d["ledger_index"]).payload["approval"] == aid


def test_the_answer_is_documented_and_matches_its_schema(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    post = spec["paths"]["/v1/decisions"]["post"]
    ref = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert post["security"] == [{"HTTPBearer": []}]
    d = submit(api, "agent", REFUND)
    assert sorted(d) == sorted(schema["properties"]) == sorted(schema["required"])
    assert api.call("POST", "/v1/decisions", "agent", json=REFUND).headers["content-type"] == (
        "application/json"
    )
