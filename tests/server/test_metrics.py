"""``GET /metrics``: Prometheus text, fed by the pipeline and read from the store at
scrape time; unscoped admin, auditor and operator tokens only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tether.monitoring import Signal
from tether.pipeline import Decision
from tether.server import _metrics as metrics_module
from tether.server import create_app
from tether.server._metrics import Metrics
from tether.testing import temporary_tether

from .conftest import ACTORS, Api

PREDICT = {"system": "loan-model", "action": "predict", "inputs": {"income": 1.0}}
REFUND = {"system": "support-bot", "action": "refund", "inputs": {"amount": 5000.0},
          "context": {"limit": 10**6}}  # fmt: skip


def scrape(api: Api, who: str = "auditor") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) -> value."""
    response = api.call("GET", "/metrics", who)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def decided(system: str, action: str, outcome: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = {"system": system, "action": action, "outcome": outcome}
    return "tether_decisions_total", tuple(sorted(labels.items()))


def test_decision_counts_and_latency_move_after_decisions(api: Api) -> None:
    before = scrape(api)
    assert decided("loan-model", "predict", "allowed") not in before
    for _ in range(2):
        assert api.call("POST", "/v1/decisions", "service", json=PREDICT).status_code == 200
    api.t.decide("support-bot", "refund", actor="svc:scoring", inputs={"amount": 1.0})  # SDK too
    after = scrape(api)
    assert after[decided("loan-model", "predict", "allowed")] == 2.0
    assert after[decided("support-bot", "refund", "denied")] == 1.0
    count = ("tether_decision_latency_seconds_count", ())
    assert after[count] - before.get(count, 0.0) == 3.0
    assert after[("tether_decision_latency_seconds_sum", ())] > 0


def test_the_approvals_gauge_matches_the_open_approvals(api: Api) -> None:
    assert scrape(api)[("tether_approvals_pending", ())] == 0.0
    ids = [api.call("POST", "/v1/decisions", "agent", json=REFUND).json()["approval_id"]
           for _ in range(3)]  # fmt: skip
    assert scrape(api)[("tether_approvals_pending", ())] == 3.0
    api.t.approvals.reject(ids[0], approver="user:lea", comment="no")
    assert len(api.t.approvals.list()) == scrape(api)[("tether_approvals_pending", ())] == 2


def test_breakers_and_signals_are_read_at_scrape_time(api: Api) -> None:
    api.t.breakers.trip("system:loan-model", actor="user:ops", reason="bad")
    api.t.breakers.trip("agent:support", actor="user:ops", reason="bad")
    api.t.breakers.reset("agent:support", actor="user:ops", reason="fixed")
    api.t.signals.emit(Signal("drift", "loan-model", "high", "psi", 0.4, 0.1, feature="income"))
    api.t.signals.emit(Signal("drift", "loan-model", "low", "psi", 0.2, 0.1, feature="age"))
    samples = scrape(api, "operator")
    assert samples[("tether_breakers_open", (("key", "system:loan-model"),))] == 1.0
    assert samples[("tether_breakers_open", (("key", "agent:support"),))] == 0.0
    assert samples[("tether_signals_active", (("kind", "drift"), ("system", "loan-model")))] == 2.0


@pytest.mark.parametrize("role", list(ACTORS))
def test_only_admin_auditor_and_operator_tokens_read_metrics(api: Api, role: str) -> None:
    response = api.call("GET", "/metrics", role)
    expected = 200 if role in ("admin", "auditor", "operator") else 403
    assert expected == response.status_code


def test_metrics_stay_out_of_the_api_document(api: Api) -> None:
    assert "/metrics" not in api.client.get("/openapi.json").json()["paths"]


def test_no_token_is_401_and_a_scoped_token_is_403(api: Api) -> None:
    response = api.call("GET", "/metrics", None)
    assert (response.status_code, response.json()["error"]["type"]) == (401, "Unauthenticated")
    scoped = api.token("user:aud", "auditor", systems=["loan-model"])
    response = api.call("GET", "/metrics", scoped)
    assert (response.status_code, response.json()["error"]["type"]) == (403, "Forbidden")


def test_each_app_has_its_own_registry() -> None:
    t = temporary_tether()
    try:
        first, second = create_app(t), create_app(t)
        assert first.state.metrics.registry is not second.state.metrics.registry
        t.decide("nowhere", "nothing", actor="user:nobody")
        for app in (first, second):
            text = generate_latest(app.state.metrics.registry).decode()
            assert (
                'tether_decisions_total{action="nothing",outcome="denied",system="nowhere"} 1.0'
                in text
            )
        with TestClient(first) as c:
            assert c.get("/metrics").status_code == 401
    finally:
        t.close()


def test_label_sets_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "MAX_SERIES", 2)
    t = temporary_tether()
    try:
        m = Metrics(t)
        for name in ("a", "b", "c", "d", "a"):
            m.observe(Decision(f"dec_{name}", name, "x", "u", "deny", "denied"))
        text = generate_latest(m.registry).decode()
    finally:
        t.close()
    assert 'tether_decisions_total{action="x",outcome="denied",system="a"} 2.0' in text
    assert 'tether_decisions_total{action="_other",outcome="denied",system="_other"} 2.0' in text
    assert "tether_decision_latency_seconds_count 0.0" in text  # no latency: not observed
