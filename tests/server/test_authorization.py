"""The authorisation matrix: endpoint x role (and no, expired, revoked, other-system
tokens) gives the documented status (docs/server.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tether.server import Tokens
from tether.testing import FrozenClock

from .conftest import ACTORS, Api

ROLES = tuple(ACTORS)
ALL = set(ROLES)


def _endpoints(api: Api) -> dict[str, tuple[str, str, dict[str, Any] | None, set[str]]]:
    """name -> (method, path, body, roles admitted)."""
    d = api.t.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 5000.0},
                     context={"limit": 10**6})  # fmt: skip
    assert d.approval_id is not None
    return {
        "submit": ("POST", "/v1/decisions",
                   {"system": "loan-model", "action": "predict", "inputs": {"income": 1.0}},
                   {"admin", "service", "agent"}),
        "read decision": ("GET", f"/v1/decisions/{d.id}", None, ALL),
        "inbox": ("GET", "/v1/approvals", None, {"admin", "auditor", "owner", "approver"}),
        "read approval": ("GET", f"/v1/approvals/{d.approval_id}", None,
                          {"admin", "auditor", "owner", "approver"}),
        "list breakers": ("GET", "/v1/breakers", None, {"admin", "auditor", "owner", "operator"}),
        "trip": ("POST", "/v1/breakers/system:loan-model/trip", {"reason": "matrix"},
                 {"admin", "owner", "operator"}),
    }  # fmt: skip


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
            if name in ("inbox", "list breakers"):  # lists are filtered, not refused
                assert (response.status_code, response.json()["items"]) == (200, []), name
            else:
                assert response.status_code == 403, (name, role, response.json())
    assert size + 2 == api.t.ledger.size  # only _endpoints' own decision and approval


def test_a_scoped_token_works_on_its_system(api: Api) -> None:
    secret = api.token("svc:scoring", "service", systems=["loan-model"])
    body = {"system": "loan-model", "action": "predict", "inputs": {"income": 1.0}}
    response = api.call("POST", "/v1/decisions", secret, json=body)
    assert (response.status_code, response.json()["outcome"]) == (200, "allowed")
