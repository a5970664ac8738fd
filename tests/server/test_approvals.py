"""Approvals over HTTP: the inbox (``?mine=true``) and overrides with a justification."""

from __future__ import annotations

from .conftest import Api


def _approval(api: Api) -> str:
    d = api.t.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 5000.0},
                     context={"limit": 10**6})  # fmt: skip
    assert d.approval_id is not None
    return d.approval_id


def test_an_admin_overrides_with_a_justification_on_the_record(api: Api) -> None:
    aid = _approval(api)
    why = "the CFO is unreachable; refund is due"
    response = api.call("POST", f"/v1/approvals/{aid}/override", "admin",
                        json={"justification": why})  # fmt: skip
    assert (response.status_code, response.json()["state"]) == (200, "overridden")
    entry = [e for e in api.t.ledger.iter_entries() if e.subject == f"approval/{aid}"][-1]
    assert (entry.kind, entry.actor, entry.payload["justification"]) == (
        "approval.overridden", "user:root", why
    )  # fmt: skip


def test_an_override_to_reject(api: Api) -> None:
    aid = _approval(api)
    body = {"justification": "fraud suspected here", "approve": False}
    response = api.call("POST", f"/v1/approvals/{aid}/override", "admin", json=body)
    assert (response.status_code, response.json()["state"]) == (200, "rejected")


def test_override_refusals_write_nothing(api: Api) -> None:
    aid = _approval(api)
    api.t.actors.register("user:ovr", kind="human", roles=["overrider", "support"],
                          actor="admin")  # fmt: skip
    mine = api.t.decide("support-bot", "refund", actor="user:ovr", inputs={"amount": 5000.0},
                        context={"limit": 10**6}).approval_id  # fmt: skip
    requester = api.token("user:ovr", "admin")
    size = api.t.ledger.size
    cases = [
        (aid, "admin", {"justification": "short"}, 422,
         "justification: String should have at least 10"),
        (aid, "admin", {}, 422, "justification: Field required"),
        (aid, "owner", {"justification": "an owner is no overrider"}, 422,
         "may not override: needs role admin or overrider"),
        (mine, requester, {"justification": "my own request, approved"},
         422, "no self-approval"),
        ("apr_nope", "admin", {"justification": "no such approval"}, 404, "apr_nope"),
    ]  # fmt: skip
    for approval, who, body, status, message in cases:
        response = api.call("POST", f"/v1/approvals/{approval}/override", who, json=body)
        assert response.status_code == status, response.json()
        assert message in response.json()["error"]["message"]
    assert api.t.ledger.size == size


def test_an_overridden_approval_cannot_be_overridden_again(api: Api) -> None:
    aid = _approval(api)
    body = {"justification": "urgent and justified"}
    assert api.call("POST", f"/v1/approvals/{aid}/override", "admin", json=body).status_code == 200
    again = api.call("POST", f"/v1/approvals/{aid}/override", "admin", json=body)
    assert again.status_code == 422
    assert "is overridden; nothing to override" in again.json()["error"]["message"]


def test_mine_is_the_token_actor_s_inbox(api: Api) -> None:
    aid = _approval(api)
    everything = api.call("GET", "/v1/approvals", "admin").json()["items"]
    assert [a["id"] for a in everything] == [aid]
    # user:root is no finance_lead: nothing to vote on, though an admin sees every one.
    assert api.call("GET", "/v1/approvals?mine=true", "admin").json()["items"] == []
    for role in ("approver", "owner"):  # their list is always their inbox
        for query in ("", "?mine=true"):
            items = api.call("GET", f"/v1/approvals{query}", role).json()["items"]
            assert [a["id"] for a in items] == [aid], (role, query)
    assert api.call("GET", "/v1/approvals?mine=true", "auditor").json()["items"] == []
    # Once user:lea voted, her inbox no longer has it; user:own's still does.
    api.call("POST", f"/v1/approvals/{aid}/approve", "approver", json={"comment": "ok"})
    assert api.call("GET", "/v1/approvals?mine=true", "approver").json()["items"] == []
    assert len(api.call("GET", "/v1/approvals?mine=true", "owner").json()["items"]) == 1
