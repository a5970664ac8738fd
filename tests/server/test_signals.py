"""Active signals over HTTP: every role reads them, within the token's systems."""

from __future__ import annotations

import pytest

from tether.monitoring import Signal

from .conftest import ACTORS, Api


def raise_signals(api: Api) -> None:
    api.t.signals.emit(Signal("drift", "loan-model", "high", "psi", 0.41, 0.12, feature="income"))
    api.t.signals.emit(Signal("anomaly", "support-bot", "medium", "rate", 0.2, 0.1))


@pytest.mark.parametrize("role", tuple(ACTORS))
def test_every_role_reads_signals(api: Api, role: str) -> None:
    raise_signals(api)
    response = api.call("GET", "/v1/signals", role)
    assert (response.status_code, len(response.json()["items"])) == (200, 2)
    assert api.call("GET", "/v1/signals", None).status_code == 401


def test_active_signals_by_system_and_page(api: Api) -> None:
    raise_signals(api)
    size = api.t.ledger.size
    found = api.call("GET", "/v1/signals?system=loan-model", "owner").json()
    assert [(s["system"], s["kind"], s["feature"], s["severity"]) for s in found["items"]] == [
        ("loan-model", "drift", "income", "high")
    ]
    first = api.call("GET", "/v1/signals?limit=1", "auditor").json()
    rest = api.call("GET", f"/v1/signals?limit=1&cursor={first['next']}", "auditor").json()
    assert len(first["items"] + rest["items"]) == 2
    assert rest["next"] is None
    assert size == api.t.ledger.size  # reading writes nothing


def test_scope_and_bad_input(api: Api) -> None:
    raise_signals(api)
    scoped = api.token("user:own", "owner", systems=["support-bot"])
    mine = api.call("GET", "/v1/signals", scoped).json()
    assert [s["system"] for s in mine["items"]] == ["support-bot"]
    other = api.call("GET", "/v1/signals?system=loan-model", scoped)
    assert (other.status_code, other.json()["error"]["type"]) == (403, "Forbidden")
    for query in ("system=x';drop table signals;--", "limit=0", "cursor=nope"):
        response = api.call("GET", f"/v1/signals?{query}", "admin")
        assert (response.status_code, response.json()["error"]["type"]) == (422, "InvalidInput")
