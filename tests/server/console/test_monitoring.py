"""The monitoring page: recorded checks per system as charts, signals, empty states, scope."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import orjson
import pytest
from tests.server.conftest import Api
from tests.server.console.conftest import Console

from tether import Tether
from tether.monitoring import AnomalyDetector, Baseline, Signal
from tether.store import monitor_repo
from tether.testing import FrozenClock

WINDOW = 100
FEATURES = {"income", "context.amount"}
_FIGURE = re.compile(
    r'<figure class="feature[^"]*" data-feature="([^"]+)">\s*(<svg.*?</svg>)', re.S
)


def reference(n: int = 3_000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {"income": rng.normal(50, 15, n), "context.amount": rng.gamma(2.0, 500.0, n)}


def predictions(t: Tether, n: int, *, shift: float = 0.0, seed: int = 2) -> list[tuple[str, Any]]:
    """``n`` scored loan decisions (incomes moved by ``shift``): (decision id, score)."""
    rng = np.random.default_rng(seed)

    def predict(income: float, amount: float) -> float:
        return float(1 / (1 + np.exp(-(income - 50) / 10)))

    out = []
    for income, amount in zip(rng.normal(50 + shift, 15, n), rng.gamma(2.0, 500.0, n),
                              strict=True):  # fmt: skip
        kwargs = {"income": float(income), "amount": float(amount)}
        d = t.pipeline.execute(predict, (), kwargs, system="loan-model", action="predict",
                               actor="svc:scoring", inputs={"income": kwargs["income"]},
                               context={"amount": kwargs["amount"]})  # fmt: skip
        out.append((d.id, d.output))
    return out


@pytest.fixture
def monitored(api: Api, clock: FrozenClock) -> Api:
    """loan-model: a baseline and three hourly checks (quiet, quiet, incomes drifted),
    labels for the first window; fraud-model: a baseline and no checks."""
    t = api.t
    ref = reference()
    t.monitor.set_baseline("loan-model", Baseline.build(ref, window_size=WINDOW),
                           anomalies=AnomalyDetector.fit(ref), action="predict",
                           actor="user:root", reason="model v1")  # fmt: skip
    t.monitor.set_baseline("fraud-model", Baseline.build(ref, window_size=WINDOW),
                           actor="user:root")  # fmt: skip
    for i, shift in enumerate((0.0, 0.0, 25.0)):
        scored = predictions(t, WINDOW, shift=shift, seed=10 + i)
        if i == 0:  # labels that agree with the scores: accuracy 1.0
            t.feedback.add_many([(d, int(s >= 0.5)) for d, s in scored], actor="svc:labels")
        assert t.monitor.check("loan-model").recorded is not None
        clock.advance(hours=1)
    return api


def figures(html: str) -> dict[str, ET.Element]:
    """The feature charts of a page, by feature, parsed as XML."""
    return {name: ET.fromstring(svg) for name, svg in _FIGURE.findall(html)}  # our own SVG


def svg_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{{http://www.w3.org/2000/svg}}{tag}") if e.get("class") == cls]


def test_a_check_is_recorded_in_the_ledger_and_indexed_by_system(monitored: Api) -> None:
    t = monitored.t
    with t.store.read() as conn:
        rows = monitor_repo.checks(conn, "loan-model", last=10)
    assert len(rows) == 3
    entries = {e.index: e for e in t.ledger.iter_entries() if e.kind == "monitor.check"}
    assert sorted(entries) == [r.ledger_index for r in rows]
    last = entries[rows[-1].ledger_index]
    assert last.subject == "system/loan-model/monitor"
    assert last.payload == orjson.loads(rows[-1].payload or b"")
    assert [f["feature"] for f in last.payload["drift"]["features"] if f["drifted"]] == ["income"]
    assert last.payload["window"]["n"] == WINDOW
    assert last.payload["window"]["start"] <= last.payload["window"]["end"]
    assert "signals" not in last.payload  # signals have their own entries: "raised"
    assert last.payload["raised"]
    # a check that only reports (emit=False) records nothing
    assert t.monitor.check("loan-model", emit=False).recorded is None
    with t.store.read() as conn:
        assert len(monitor_repo.checks(conn, "loan-model", last=10)) == 3


def test_the_page_charts_each_feature_against_its_threshold(
    monitored: Api, console: Console
) -> None:
    behaviour = Signal("behaviour", "loan-model", "medium", "deny_rate", 0.4, 0.05,
                       feature="agent:support")  # fmt: skip
    assert monitored.t.signals.emit(behaviour) is not None
    page = console("auditor").get("/console/monitoring?system=loan-model")
    assert page.status_code == 200, page.text
    charts = figures(page.text)
    assert set(charts) == FEATURES  # one chart per feature
    for name, svg in charts.items():
        assert svg.get("role") == "img"
        assert name in (svg.get("aria-label") or "")
        assert svg_class(svg, "path", "threshold"), f"{name} has no threshold line"
        assert len(svg_class(svg, "circle", "point") + svg_class(svg, "circle", "breach")) == 3
    income = charts["income"]
    breach = svg_class(income, "circle", "breach")
    assert len(breach) == 1  # the drifted third window, marked
    assert "breached" in (breach[0].findtext("{http://www.w3.org/2000/svg}title") or "")
    assert not svg_class(charts["context.amount"], "circle", "breach")
    assert page.text.index('data-feature="income"') < page.text.index(
        'data-feature="context.amount"'
    )  # drifted features first
    assert 'id="anomaly-chart"' in page.text
    assert 'id="performance-chart"' in page.text
    assert "accuracy per window (100 labelled decisions)" in page.text
    signals = page.text[page.text.index('id="signals"') :]
    assert re.search(r"<td>drift</td><td><span class=\"sev sev-(high|medium|low)\">", signals)
    assert "<td>income</td>" in signals
    streams = page.text[page.text.index('id="behaviour"') :]
    assert "<td>agent:support</td><td>deny_rate</td><td>0.4</td><td>0.05</td>" in streams


def test_the_number_of_windows_is_bounded_and_checked(monitored: Api, console: Console) -> None:
    client = console("operator")
    two = client.get("/console/monitoring?system=loan-model&windows=2")
    assert two.status_code == 200
    for svg in figures(two.text).values():
        assert len(svg_class(svg, "circle", "point") + svg_class(svg, "circle", "breach")) == 2
    odd = client.get("/console/monitoring?system=loan%20model")
    assert odd.status_code == 422
    assert "is not a system name" in odd.text
    for bad in ("0", "1001", "many"):
        refused = client.get(f"/console/monitoring?system=loan-model&windows={bad}")
        assert refused.status_code == 422
        assert "whole number from 1 to 1,000" in refused.text


def test_the_index_lists_systems_and_a_scoped_user_sees_only_theirs(
    monitored: Api, console: Console
) -> None:
    everything = console("admin").get("/console/monitoring")
    assert everything.status_code == 200
    assert 'data-system="loan-model"' in everything.text
    assert 'data-system="fraud-model"' in everything.text
    assert "drifted: income" in everything.text
    assert 'id="monitoring-empty"' not in everything.text
    scoped = console("approver", systems=["fraud-model"])
    mine = scoped.get("/console/monitoring")
    assert 'data-system="fraud-model"' in mine.text
    assert "loan-model" not in mine.text
    other = scoped.get("/console/monitoring?system=loan-model")
    assert other.status_code == 403
    assert "income" not in other.text


def test_empty_states_say_how_to_start(monitored: Api, console: Console) -> None:
    client = console("owner")
    no_checks = client.get("/console/monitoring?system=fraud-model")
    assert no_checks.status_code == 200
    assert "No checks recorded for fraud-model yet" in no_checks.text
    assert "tether monitor watch fraud-model" in no_checks.text
    assert "<svg" not in no_checks.text
    unknown = client.get("/console/monitoring?system=new-model")
    assert unknown.status_code == 200
    assert "new-model has no monitoring baseline" in unknown.text
    assert "tether monitor set-baseline new-model reference.parquet" in unknown.text
    assert "<svg" not in unknown.text


def test_no_monitored_system_shows_how_to_start(api: Api, console: Console) -> None:
    page = console("auditor").get("/console/monitoring")
    assert page.status_code == 200
    assert 'data-system="loan-model"' in page.text  # registered, not monitored
    assert "none: not monitored" in page.text
    assert 'id="monitoring-empty"' in page.text
    assert "tether monitor set-baseline SYSTEM" in page.text


def test_the_page_needs_a_session(monitored: Api, console: Console) -> None:
    answer = console.anonymous().get(
        "/console/monitoring?system=loan-model", follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=")


def test_a_long_history_of_checks_renders_only_the_latest_windows(
    api: Api, console: Console, clock: FrozenClock
) -> None:
    """Checks recorded as monitor.check entries with a recorded check's payload: the
    page reads the latest ``windows`` of them, whatever the history."""
    t = api.t
    ref = reference()
    t.monitor.set_baseline("loan-model", Baseline.build(ref, window_size=WINDOW),
                           action="predict", actor="user:root")  # fmt: skip
    predictions(t, WINDOW)
    template = t.ledger.get(t.monitor.check("loan-model").recorded or 0).payload
    futures = []
    for hour in range(1, 500):
        clock.advance(hours=1)
        now = clock.now().timestamp()
        window = {"first": f"d{hour}", "last": f"e{hour}", "start": now - 3600, "end": now}
        payload = {**template, "window": {**template["window"], **window}}
        futures.append(t.ledger.append(
            "monitor.check", "tether:monitor", payload, subject="system/loan-model/monitor",
            durability="async", mutation=monitor_repo.record_check("loan-model", now),
        ))  # fmt: skip
    for f in futures:
        f.result()
    page = console("auditor").get("/console/monitoring?system=loan-model")
    assert page.status_code == 200
    for svg in figures(page.text).values():
        assert len(svg_class(svg, "circle", "point") + svg_class(svg, "circle", "breach")) == 100
    assert "The last 100 recorded checks" in page.text
