"""The authorisation matrix: endpoint x role (and no, expired, revoked, other-system
tokens) gives the documented status (docs/server.md)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tether.server import Tokens
from tether.testing import FrozenClock

from .conftest import ACTORS, Api

ROLES = tuple(ACTORS)
ALL = set(ROLES)
LISTS = ("inbox", "list breakers", "feed", "systems", "signals")  # filtered by scope, not refused
UNSCOPED = ("test policy",)  # reads no system's data: a scoped token may run policy tests


EVERY = ALL
READERS = {"admin", "auditor", "owner", "approver"}
CHANGERS = {"admin", "owner", "operator"}
VOTERS = {"admin", "owner", "approver"}


def _endpoints(api: Api) -> dict[str, tuple[str, str, dict[str, Any] | None, set[str]]]:
    """name -> (method, path, body, roles admitted): every operation of /openapi.json
    that needs a token (``test_the_matrix_covers_every_operation``), as docs/server.md
    documents it. Bodies are valid, or invalid only where a valid one would change what
    later rows see (publishing a policy): admitted roles then get 422, never 401/403."""
    d = api.t.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 5000.0},
                     context={"limit": 10**6})  # fmt: skip
    assert d.approval_id is not None
    ran = api.t.decide("support-bot", "read_customer", actor="agent:support",
                       inputs={"customer": "c1"})  # fmt: skip
    assert ran.allowed
    policy = "policy: p\nrules: []\n"
    return {
        "submit": ("POST", "/v1/decisions",
                   {"system": "loan-model", "action": "predict", "inputs": {"income": 1.0}},
                   {"admin", "service", "agent"}),
        "read decision": ("GET", f"/v1/decisions/{d.id}", None, ALL),
        "feed": ("GET", "/v1/decisions", None, ALL),
        # the outcome of an action belongs to the actor who asked (agent:support here):
        # other admitted roles are refused for this decision, as documented
        "outcome": ("POST", f"/v1/decisions/{ran.id}/outcome", {"output": "done"}, {"agent"}),
        "feedback": ("POST", "/v1/feedback", {"labels": [{"decision_id": ran.id, "label": 1}]},
                     {"admin", "service"}),
        "inbox": ("GET", "/v1/approvals", None, READERS),
        "read approval": ("GET", f"/v1/approvals/{d.approval_id}", None, READERS),
        "approve": ("POST", f"/v1/approvals/{d.approval_id}/approve", {"comment": "seen"},
                    VOTERS),
        "reject": ("POST", f"/v1/approvals/{d.approval_id}/reject", {"comment": "no"}, VOTERS),
        "override": ("POST", f"/v1/approvals/{d.approval_id}/override",
                     {"justification": "the matrix says so"}, VOTERS),
        "list breakers": ("GET", "/v1/breakers", None, {"admin", "auditor", "owner", "operator"}),
        "trip": ("POST", "/v1/breakers/system:loan-model/trip", {"reason": "matrix"}, CHANGERS),
        "reset": ("POST", "/v1/breakers/system:loan-model/reset", {"reason": "matrix"},
                  CHANGERS),
        "systems": ("GET", "/v1/systems", None, EVERY),
        "versions": ("GET", "/v1/systems/loan-model/versions", None, EVERY),
        "version": ("GET", "/v1/systems/loan-model/versions/1", None, EVERY),
        "alias history": ("GET", "/v1/systems/loan-model/aliases/champion/history", None,
                          EVERY),
        "gates": ("GET", "/v1/systems/loan-model/gates", None, EVERY),
        "gate versions": ("GET", "/v1/systems/loan-model/gates/versions", None, EVERY),
        "promote": ("POST", "/v1/systems/loan-model/promote", {"version": 1, "reason": "m"},
                    {"admin", "owner"}),
        "rollback": ("POST", "/v1/systems/loan-model/rollback", {"reason": "m"},
                     {"admin", "owner"}),
        "signals": ("GET", "/v1/signals", None, EVERY),
        "checks": ("GET", "/v1/monitoring/loan-model/checks", None, EVERY),
        "checkpoint": ("GET", "/v1/ledger/checkpoint", None, {"admin", "auditor", "owner"}),
        "receipt": ("GET", f"/v1/ledger/receipts/{ran.ledger_index}", None,
                    {"admin", "auditor", "owner"}),
        "verify": ("GET", "/v1/ledger/verify", None, {"admin", "auditor"}),
        "current policy": ("GET", "/v1/policies/current", None, EVERY),
        "publish": ("POST", "/v1/policies", {"text": "not: [a policy"}, {"admin"}),
        "test policy": ("POST", "/v1/policies/test",
                        {"text": policy, "cases": [{"request": {}, "expect": "deny"}]},
                        {"admin", "owner", "auditor"}),
        "replay": ("POST", "/v1/policies/replay", {"text": policy},
                   {"admin", "owner", "auditor"}),
    }  # fmt: skip


def test_the_matrix_covers_every_operation(api: Api) -> None:
    """A new endpoint must join the matrix (and docs/server.md) before it ships."""
    spec = api.client.get("/openapi.json").json()["paths"]
    operations = {
        (method.upper(), path)
        for path, item in spec.items()
        for method in item
        if path not in ("/healthz", "/readyz")
    }
    covered = {
        (m, p)
        for method, concrete, _, _ in _endpoints(api).values()
        for m, p in operations
        if m == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), concrete)
    }
    assert operations - covered == set()


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_admitted_exactly_where_documented(api: Api, role: str) -> None:
    for name, (method, path, body, admitted) in _endpoints(api).items():
        response = api.call(method, path, role, json=body)
        if role in admitted:
            assert response.status_code not in (401, 403), (name, role, response.json())
        else:
            assert response.status_code == 403, (name, role, response.json())
            assert response.json()["error"]["type"] == "Forbidden"


def test_voting_roles(api: Api) -> None:
    endpoints = _endpoints(api)
    aid = endpoints["read approval"][1].rsplit("/", 1)[1]
    for role in ("auditor", "operator", "service", "agent"):
        response = api.call("POST", f"/v1/approvals/{aid}/approve", role, json={})
        assert response.status_code == 403, role


def _bad_tokens(api: Api, clock: FrozenClock) -> dict[str, str | None]:
    tokens = Tokens(api.t)
    _, expired = tokens.create("user:root", "admin", by="user:root", expires=timedelta(hours=1))
    revoked_id, revoked = tokens.create("user:root", "admin", by="user:root")
    tokens.revoke(revoked_id, by="user:root")
    clock.advance(hours=2)
    return {"no token": None, "expired": expired, "revoked": revoked, "garbage": "tether_x"}


def test_missing_expired_revoked_tokens_are_401_everywhere(api: Api, clock: FrozenClock) -> None:
    endpoints = _endpoints(api)
    for label, secret in _bad_tokens(api, clock).items():
        for name, (method, path, body, _) in endpoints.items():
            response = api.call(method, path, secret, json=body)
            assert response.status_code == 401, (label, name)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["type"] == "Unauthenticated"


def test_a_token_for_another_system_is_403(api: Api) -> None:
    other = {role: api.token(actor, role, systems=["elsewhere"]) for role, actor in ACTORS.items()}
    size = api.t.ledger.size
    for name, (method, path, body, admitted) in _endpoints(api).items():
        for role in admitted:
            response = api.call(method, path, other[role], json=body)
            if name in UNSCOPED:
                assert response.status_code not in (401, 403), (name, role)
            elif name in LISTS:  # lists are filtered, not refused
                assert (response.status_code, response.json()["items"]) == (200, []), name
            else:
                assert response.status_code == 403, (name, role, response.json())
    assert size + 3 == api.t.ledger.size  # only _endpoints' own two decisions and approval


def test_a_scoped_token_works_on_its_system(api: Api) -> None:
    secret = api.token("svc:scoring", "service", systems=["loan-model"])
    body = {"system": "loan-model", "action": "predict", "inputs": {"income": 1.0}}
    response = api.call("POST", "/v1/decisions", secret, json=body)
    assert (response.status_code, response.json()["outcome"]) == (200, "allowed")


# -- per-system authorisation (server/_access.py) -----------------------------------------


def _approval(api: Api) -> str:
    d = api.t.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 5000.0},
                     context={"limit": 10**6})  # fmt: skip
    assert d.approval_id is not None
    return d.approval_id


def _refused(api: Api, method: str, path: str, secret: str, body: Any, fragment: str) -> None:
    size = api.t.ledger.size
    response = api.call(method, path, secret, json=body)
    assert (response.status_code, response.json()["error"]["type"]) == (403, "Forbidden"), (
        path, response.json()
    )  # fmt: skip
    assert fragment in response.json()["error"]["message"], response.json()
    assert api.t.ledger.size == size


def _changes(aid: str) -> list[tuple[str, str, dict[str, Any]]]:
    """What an owner token may do to a system it owns: (method, path, body)."""
    return [
        ("POST", f"/v1/approvals/{aid}/approve", {"comment": "ok"}),
        ("POST", f"/v1/approvals/{aid}/reject", {"comment": "no"}),
        ("POST", f"/v1/approvals/{aid}/override", {"justification": "an owner says so"}),
        ("POST", "/v1/breakers/system:support-bot/trip", {"reason": "stop"}),
        ("POST", "/v1/breakers/action:support-bot/refund/reset", {"reason": "go"}),
        ("POST", "/v1/systems/support-bot/promote", {"version": 1, "reason": "r"}),
        ("POST", "/v1/systems/support-bot/rollback", {"reason": "r"}),
    ]


def test_an_owner_token_changes_only_systems_its_actor_owns(api: Api) -> None:
    aid = _approval(api)  # support-bot, owned by the team "support"
    api.t.actors.register("user:kim", kind="human", roles=["finance_lead", "credit"],
                          actor="admin")  # fmt: skip
    outsider = api.token("user:kim", "owner")
    for method, path, body in _changes(aid):
        _refused(api, method, path, outsider, body, "is owned by 'support', not by 'user:kim'")
    # user:own is in the team "support" (conftest): not refused by authorisation.
    for method, path, body in _changes(aid):
        response = api.call(method, path, "owner", json=body)
        assert response.status_code != 403 or response.json()["error"]["type"] != "Forbidden", (
            path, response.json()
        )  # fmt: skip


def test_an_owner_by_name_and_an_unregistered_system(api: Api) -> None:
    api.t.actors.register("user:solo", kind="human", actor="admin")
    api.t.systems.register("solo-model", kind="model", owner="user:solo", risk_tier="minimal",
                           actor="admin")  # fmt: skip
    solo = api.token("user:solo", "owner")
    trip = api.call("POST", "/v1/breakers/system:solo-model/trip", solo, json={"reason": "mine"})
    assert (trip.status_code, trip.json()["state"]) == (200, "open")
    _refused(api, "POST", "/v1/breakers/system:ghost/trip", solo, {"reason": "x"},
             "system 'ghost' is not registered, so it has no owner")  # fmt: skip
    _refused(api, "POST", "/v1/breakers/agent:support/trip", "owner", {"reason": "x"},
             "an owner token changes only systems its actor owns")  # fmt: skip


def test_a_scope_narrows_but_never_grants_ownership(api: Api) -> None:
    aid = _approval(api)
    api.t.actors.register("user:kim", kind="human", roles=["finance_lead"], actor="admin")
    scoped = api.token("user:kim", "owner", systems=["support-bot"])
    _refused(api, "POST", f"/v1/approvals/{aid}/approve", scoped, {}, "is owned by 'support'")
    narrowed = api.token("user:own", "owner", systems=["loan-model"])
    _refused(api, "POST", f"/v1/approvals/{aid}/approve", narrowed, {},
             "the token is scoped to loan-model")  # fmt: skip


def test_an_approver_approves_only_its_risk_tiers(api: Api) -> None:
    aid = _approval(api)  # support-bot is "limited"
    api.t.actors.register("user:lim", kind="human", roles=["finance_lead"], actor="admin",
                          attributes={"approve_tiers": ["minimal", "limited"]})  # fmt: skip
    api.t.actors.register("user:none", kind="human", roles=["finance_lead"], actor="admin")
    limited, untiered = api.token("user:lim", "approver"), api.token("user:none", "approver")
    _refused(api, "POST", f"/v1/approvals/{aid}/approve", untiered, {},
             "'user:none' may approve tiers: none")  # fmt: skip
    assert api.call("GET", "/v1/approvals", untiered).json()["items"] == []
    assert [a["id"] for a in api.call("GET", "/v1/approvals", limited).json()["items"]] == [aid]
    api.t.systems.register("support-bot", kind="agent", owner="support", risk_tier="high",
                           actor="admin")  # fmt: skip
    for path, body in (
        (f"/v1/approvals/{aid}/approve", {}),
        (f"/v1/approvals/{aid}/reject", {"comment": "no"}),
        (f"/v1/approvals/{aid}/override", {"justification": "ten chars+"}),
    ):
        _refused(api, "POST", path, limited, body,
                 "system 'support-bot' is risk tier 'high'; 'user:lim' may approve tiers: "
                 "minimal, limited")  # fmt: skip
    assert api.call("GET", "/v1/approvals", limited).json()["items"] == []
    assert api.call("GET", "/v1/approvals", "approver").json()["items"] != []  # lea: all tiers


def test_the_service_rules_still_apply_after_authorisation(api: Api) -> None:
    aid = _approval(api)
    api.t.actors.register("user:ann", kind="human", roles=["auditor"], actor="admin",
                          attributes={"approve_tiers": ["limited"]})  # fmt: skip
    response = api.call("POST", f"/v1/approvals/{aid}/approve", api.token("user:ann", "approver"),
                        json={})  # fmt: skip
    assert (response.status_code, response.json()["error"]["type"]) == (422, "InvalidInput")
    assert "lacks a required role" in response.json()["error"]["message"]


def test_an_agent_token_never_approves_rejects_or_overrides(api: Api) -> None:
    aid = _approval(api)
    helper = api.token("agent:helper", "agent")  # holds finance_lead, and is an agent
    for verb, body in (("approve", {}), ("reject", {"comment": "no"}),
                       ("override", {"justification": "i am an agent"})):  # fmt: skip
        _refused(api, "POST", f"/v1/approvals/{aid}/{verb}", helper, body, "role 'agent'")
    assert api.t.approvals.get(aid).state == "pending"
