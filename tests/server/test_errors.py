"""Bad input: one error shape, a clear message, the right status, nothing written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tether.errors import (
    ActionDenied,
    ApprovalRequired,
    CircuitOpen,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    PolicyError,
    RateLimited,
    SchemaVersionError,
    SignatureError,
    StoreError,
)
from tether.server._errors import Forbidden, Unauthenticated, status_for

from .conftest import Api

DECIDE = {"system": "loan-model", "action": "predict", "inputs": {"income": 1.0}}


def error(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    assert {"error"} == set(body)
    assert {"type", "message", "hint"} == set(body["error"])
    return dict(body["error"])


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (Unauthenticated("x"), 401),
        (Forbidden("x"), 403),
        (InvalidInput("x"), 422),
        (PolicyError(["p.yaml:1:1: bad"]), 422),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (ActionDenied("x"), 403),
        (ApprovalRequired("x"), 403),
        (CircuitOpen("x"), 403),
        (RateLimited("x", retry_after=2.0), 429),
        (SignatureError("x"), 422),
        (StoreError("x"), 503),
        (SchemaVersionError("x"), 503),
        (ConfigurationError("x"), 500),
        (RuntimeError("x"), 500),
    ],
)
def test_the_status_table(exc: BaseException, status: int) -> None:
    assert status == status_for(exc)[0]


def test_malformed_json_is_400(api: Api) -> None:
    size = api.t.ledger.size
    response = api.call(
        "POST", "/v1/decisions", "service", content=b'{"system": ',
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert (response.status_code, error(response)["type"]) == (400, "MalformedBody")
    assert size == api.t.ledger.size


def test_a_wrong_type_names_the_field(api: Api) -> None:
    response = api.call("POST", "/v1/decisions", "service", json={**DECIDE, "system": 42})
    assert response.status_code == 422
    assert error(response)["message"].startswith("system:")


def test_a_missing_field_names_it(api: Api) -> None:
    response = api.call("POST", "/v1/decisions", "service", json={"system": "loan-model"})
    assert (response.status_code, error(response)["message"]) == (422, "action: Field required")


def test_unknown_fields_are_refused(api: Api) -> None:
    size = api.t.ledger.size
    # The actor is the token's: a body cannot claim another one.
    response = api.call("POST", "/v1/decisions", "service", json={**DECIDE, "actor": "user:root"})
    assert (
        response.status_code,
        error(response)["message"],
    ) == (422, "actor: unknown field; remove it")
    assert size == api.t.ledger.size


def test_an_oversized_body_is_413_and_writes_nothing(api: Api) -> None:
    size = api.t.ledger.size
    big = {**DECIDE, "inputs": {"income": 1.0, "pad": "x" * 5000}}
    response = api.call("POST", "/v1/decisions", "service", json=big)
    assert (response.status_code, error(response)["type"]) == (413, "PayloadTooLarge")
    assert size == api.t.ledger.size


def test_an_oversized_streamed_body_is_413_and_writes_nothing(api: Api) -> None:
    size = api.t.ledger.size

    def chunks() -> Iterator[bytes]:
        yield b'{"system": "loan-model", "action": "predict", "inputs": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = api.call(
        "POST", "/v1/decisions", "service", content=chunks(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert (response.status_code, error(response)["type"]) == (413, "PayloadTooLarge")
    assert size == api.t.ledger.size


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "loan-model'; DROP TABLE ledger_entries; --", "", "a b", "x" * 201]
)
def test_hostile_names_are_refused_before_the_pipeline(api: Api, name: str) -> None:
    size = api.t.ledger.size
    for body in ({**DECIDE, "system": name}, {**DECIDE, "action": name}):
        response = api.call("POST", "/v1/decisions", "service", json=body)
        assert (response.status_code, error(response)["type"]) == (422, "InvalidInput")
    assert size == api.t.ledger.size


@pytest.mark.parametrize(
    "path", ["/v1/approvals/..%2F..%2Fetc/approve", "/v1/decisions/1%27%20OR%201=1"]
)
def test_hostile_ids_in_paths_are_4xx(api: Api, path: str) -> None:
    response = api.call("POST" if path.endswith("approve") else "GET", path, "admin", json={})
    assert response.status_code in (404, 422)
    error(response)


def test_unknown_routes_have_the_same_shape(api: Api) -> None:
    response = api.client.get("/v1/nothing")
    assert (response.status_code, error(response)["type"]) == (404, "NotFound")


def test_a_bad_cursor_is_422(api: Api) -> None:
    response = api.call("GET", "/v1/approvals?cursor=bm9wZQ", "admin")
    assert (response.status_code, error(response)["type"]) == (422, "InvalidInput")
