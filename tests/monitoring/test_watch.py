"""Watching a system: a stored baseline against windows of its recorded decisions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from tests.pipeline.conftest import setup_governance

from tether import InvalidInput, NotFound, Tether
from tether.monitoring import AnomalyDetector, Baseline
from tether.testing import FrozenClock

WINDOW = 300


def reference(n: int = 6_000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {"income": rng.normal(50, 15, n), "context.amount": rng.gamma(2.0, 500.0, n)}


def record(gov: Tether, n: int, *, shift: float = 0.0, seed: int = 2) -> list[str]:
    rng = np.random.default_rng(seed)
    ids = []
    for income, amount in zip(rng.normal(50 + shift, 15, n), rng.gamma(2.0, 500.0, n),
                              strict=True):  # fmt: skip
        inputs, context = {"income": float(income)}, {"amount": float(amount)}
        d = gov.decide("loan-model", "predict", actor="svc:scoring", inputs=inputs, context=context)
        assert d.allowed
        ids.append(d.id)
    return ids


@pytest.fixture
def watched(make_tether: Callable[..., Tether]) -> Tether:
    gov = setup_governance(make_tether())
    ref = reference()
    base = Baseline.build(ref, window_size=WINDOW)
    gov.monitor.set_baseline("loan-model", base, anomalies=AnomalyDetector.fit(ref),
                             action="predict", actor="user:root", reason="model v1")  # fmt: skip
    return gov


def test_a_drifting_production_stream_raises_signals_a_quiet_one_does_not(
    watched: Tether,
) -> None:
    quiet_ids = record(watched, WINDOW)
    quiet = watched.monitor.check("loan-model")
    assert quiet.window.ids == tuple(quiet_ids)
    assert (quiet.window.n, quiet.partial, quiet.drift.drifted(), quiet.signals) == (
        WINDOW,
        False,
        [],
        (),
    )
    assert quiet.anomalies is not None
    assert not quiet.anomalies.flagged
    assert watched.signals.for_policy("loan-model")["drift"] == "none"

    record(watched, WINDOW, shift=20.0, seed=3)  # incomes moved by 1.3 sigma
    moved = watched.monitor.check("loan-model")
    assert [f.feature for f in moved.drift.drifted()] == ["income"]
    assert {s.kind for s in moved.signals} >= {"drift"}
    assert len(moved.raised) == len(moved.signals)
    assert watched.signals.for_policy("loan-model")["drift"] != "none"
    raised = [e for e in watched.ledger.iter_entries() if e.kind == "signal.raised"]
    assert raised[-1].payload["window"] == moved.window.label
    # the same condition again within the cool-down raises nothing new
    assert watched.monitor.check("loan-model").raised == ()


def test_windows_by_count_and_by_time(watched: Tether, clock: FrozenClock) -> None:
    first = record(watched, 250)
    clock.advance(hours=1)
    second = record(watched, 100, seed=4)
    by_count = watched.monitor.windows("loan-model", size=120)
    assert [w.n for w in by_count] == [120, 120, 110]
    assert sum((w.ids for w in by_count), ()) == tuple(first + second)
    by_time = watched.monitor.windows("loan-model", every=1800)
    assert [w.ids for w in by_time] == [tuple(first), tuple(second)]
    assert set(by_time[0].columns) == {"income", "context.amount"}
    assert by_time[0].columns["income"].dtype == np.float64
    last = watched.monitor.window("loan-model", last=100)
    assert last.ids == tuple(second)
    report = watched.monitor.check("loan-model", by_time[1])  # 100 < WINDOW / 2
    assert report.partial
    assert report.signals == ()


def test_the_baseline_is_stored_with_its_digest_in_the_ledger(
    watched: Tether, make_tether: Callable[..., Tether]
) -> None:
    stored = watched.monitor.get("loan-model")
    entry = watched.ledger.get(stored.ledger_index)
    assert entry.kind == "monitor.baseline"
    assert entry.payload["digest"] == stored.digest
    assert entry.payload["features"] == ["context.amount", "income"]
    assert stored.action == "predict"
    watched.close()
    again = make_tether().monitor.get("loan-model")
    assert again.digest == stored.digest
    assert again.baseline.thresholds.keys() == stored.baseline.thresholds.keys()
    assert again.anomalies is not None


def test_missing_baseline_and_empty_windows_are_clear_errors(watched: Tether) -> None:
    with pytest.raises(NotFound, match="has no monitoring baseline: set one"):
        watched.monitor.check("support-bot")
    with pytest.raises(InvalidInput, match="no recorded decisions of 'loan-model'"):
        watched.monitor.check("loan-model")
    with pytest.raises(InvalidInput, match="either a size"):
        watched.monitor.windows("loan-model")
    with pytest.raises(InvalidInput, match="positive"):
        watched.monitor.window("loan-model", last=0)
    assert watched.monitor.windows("loan-model", size=10) == []


def test_the_most_anomalous_inputs_are_named_by_decision(watched: Tether) -> None:
    ids = record(watched, WINDOW)
    odd = [
        watched.decide("loan-model", "predict", actor="svc:scoring", inputs={"income": 400.0},
                       context={"amount": 9_000.0}).id
        for _ in range(3)
    ]  # fmt: skip
    report = watched.monitor.check("loan-model", emit=False)
    assert report.window.rows == tuple(ids[3:] + odd)
    assert {d for d, _ in report.anomalous[:3]} == set(odd)
    assert report.to_dict()["anomalies"]["top"][0]["decision"] in odd


def test_last_reads_only_the_latest_decisions(watched: Tether) -> None:
    ids = record(watched, 250)
    latest = watched.monitor.windows("loan-model", size=100, last=200)
    assert [w.ids for w in latest] == [tuple(ids[50:150]), tuple(ids[150:])]
