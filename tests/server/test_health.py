"""/healthz, /readyz and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tether import Tether
from tether.server import create_app

from .conftest import Api


def test_healthz_needs_no_token(api: Api) -> None:
    response = api.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_ready_when_the_store_answers_and_a_policy_is_enforced(api: Api) -> None:
    response = api.client.get("/readyz")
    assert (
        response.status_code,
        response.json()["status"],
        response.json()["policy_version"],
    ) == (200, "ready", 1)


def test_not_ready_without_a_policy(make_tether: Callable[..., Tether]) -> None:
    with TestClient(create_app(make_tether())) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "NotReady"
    assert "no policy" in response.json()["error"]["message"]


def test_not_ready_when_the_store_is_closed(make_tether: Callable[..., Tether]) -> None:
    t = make_tether()
    t.store.close()
    with TestClient(create_app(t)) as client:
        response = client.get("/readyz")
    assert (response.status_code, response.json()["error"]["type"]) == (503, "NotReady")


def test_openapi_lists_the_endpoints(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {
        "/healthz",
        "/readyz",
        "/v1/decisions",
        "/v1/decisions/{decision_id}",
        "/v1/approvals",
        "/v1/approvals/{approval_id}",
        "/v1/approvals/{approval_id}/approve",
        "/v1/approvals/{approval_id}/reject",
        "/v1/approvals/{approval_id}/override",
        "/v1/breakers",
        "/v1/breakers/{key}/trip",
        "/v1/breakers/{key}/reset",
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
        "/v1/monitoring/{system}/checks",
        "/v1/ledger/checkpoint",
        "/v1/ledger/receipts/{index}",
        "/v1/ledger/verify",
        "/v1/policies/current",
        "/v1/policies",
        "/v1/policies/test",
        "/v1/policies/replay",
    } == set(paths)  # /metrics is Prometheus text, not part of the JSON API document
