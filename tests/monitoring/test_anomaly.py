"""Isolation-forest anomalies: calibrated on the reference, few false alarms, clear
detection, a stored detector scores exactly like the original."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tether import InvalidInput
from tether.monitoring import AnomalyDetector, Profile


def batch(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, Any]:
    return {
        "income": rng.normal(60 + shift, 15, n),
        "debt": rng.gamma(2.0, 8.0, n),
        "channel": rng.choice(["web", "branch", "phone"], n, p=[0.6, 0.3, 0.1]),
    }


@pytest.fixture(scope="module")
def detector() -> AnomalyDetector:
    return AnomalyDetector.fit(batch(np.random.default_rng(1), 30_000))


@pytest.mark.parametrize("n", [500, 5_000])
def test_normal_windows_rarely_alarm(detector: AnomalyDetector, n: int) -> None:
    rng = np.random.default_rng(100 + n)
    reports = [detector.check(batch(rng, n)) for _ in range(40)]
    rates = [r.rate for r in reports]
    alarms = sum(r.flagged for r in reports)
    print(f"\nn={n}: mean anomaly rate {np.mean(rates):.4f} (target 0.01), alarms {alarms}/40")
    assert abs(float(np.mean(rates)) - 0.01) < 0.003  # the threshold is calibrated
    assert alarms <= 2  # alpha = 0.001 per window; small windows are noisier


def test_shifted_and_odd_inputs_alarm(detector: AnomalyDetector) -> None:
    rng = np.random.default_rng(3)
    far = detector.check(batch(rng, 1_000, shift=60.0))
    assert far.flagged
    assert far.severity == "high"
    assert far.rate > 0.1  # 13 times the reference rate
    odd = batch(rng, 1_000)
    odd["income"][:100] = rng.normal(150, 5, 100)  # rich applicants ...
    odd["debt"][:100] = rng.normal(90, 5, 100)  # ... with heavy debts
    report = detector.check(odd)
    assert report.flagged
    assert all(row < 100 for row, _ in report.top)  # the odd rows score highest
    signal = report.signal("loan-model", window="last 1,000")
    assert signal is not None
    assert (signal.kind, signal.statistic, signal.threshold) == (
        "anomaly",
        "isolation_forest_rate",
        0.01,
    )


def test_an_empty_window_is_normal_and_a_missing_column_takes_the_median(
    detector: AnomalyDetector,
) -> None:
    empty = detector.check({"income": np.zeros(0), "debt": np.zeros(0), "channel": []})
    assert (empty.n, empty.flagged) == (0, False)
    rng = np.random.default_rng(4)
    partial = batch(rng, 200)
    del partial["debt"]
    encoded = detector.encode(partial)
    assert np.all(encoded[:, 1] == detector.profile["debt"].quantile(0.5))
    messy = {"income": np.asarray([61.0, None, "oops", "70"], dtype=object),
             "debt": [1.0, 2.0, 3.0, 4.0], "channel": ["web", None, "", "branch"]}  # fmt: skip
    rows = detector.encode(messy)
    median = detector.profile["income"].quantile(0.5)
    assert rows[:, 0].tolist() == [61.0, median, median, 70.0]
    assert rows[:, 2].tolist() == [0.0, -1.0, -1.0, 1.0]  # web is the commonest category


def test_a_stored_detector_scores_exactly_like_the_original(detector: AnomalyDetector) -> None:
    again = AnomalyDetector.from_json(detector.to_json())
    window = batch(np.random.default_rng(5), 2_000, shift=5.0)
    assert np.array_equal(detector.score(window), again.score(window))
    assert again.threshold == detector.threshold
    assert again.check(window) == detector.check(window)


def test_a_reference_profile_fixes_the_columns() -> None:
    rng = np.random.default_rng(6)
    ref = batch(rng, 2_000)
    profile = Profile.build(ref, categorical=["channel"])
    det = AnomalyDetector.fit(ref, profile=profile, sample=500, trees=20)
    assert det.features == ["income", "debt", "channel"]
    assert det.sample.shape == (500, 3)


def test_bad_input_is_refused_with_the_fix() -> None:
    rng = np.random.default_rng(7)
    with pytest.raises(InvalidInput, match="at least 50 reference rows; got 10"):
        AnomalyDetector.fit(batch(rng, 10))
    with pytest.raises(InvalidInput, match=r"rate must be between 0 and 0\.5"):
        AnomalyDetector.fit(batch(rng, 100), rate=0.7)
    with pytest.raises(InvalidInput, match="not a tether anomaly detector"):
        AnomalyDetector.from_json(b'{"format": 1}')
    with pytest.raises(InvalidInput, match="not a tether anomaly detector"):
        AnomalyDetector.from_json(b"not json")
