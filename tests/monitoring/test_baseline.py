"""Baselines: calibrated drift checks of windows, and the signals they raise."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tether import InvalidInput, Tether
from tether.monitoring import Baseline

CATS = ["web", "app", "branch", "phone"]
P = [0.4, 0.3, 0.2, 0.1]


def batch(rng: np.random.Generator, n: int, shift: float = 0.0, p: list[float] = P) -> dict:  # type: ignore[type-arg]
    return {
        "income": rng.normal(50_000 + shift * 10_000, 10_000, n),
        "age": rng.integers(18, 80, n).astype(float),
        "channel": rng.choice(CATS, n, p=p),
    }


def test_quiet_windows_rarely_alarm_and_shifts_are_caught() -> None:
    rng = np.random.default_rng(11)
    base = Baseline.build(batch(rng, 50_000), window_size=10_000)
    flagged = sum(len(base.check(batch(rng, 10_000)).drifted()) for _ in range(20))
    assert flagged <= 3  # 60 feature checks over 20 quiet windows: at most 5 % flagged
    moved = base.check(batch(rng, 10_000, shift=0.25))
    assert [f.feature for f in moved.drifted()] == ["income"]
    mass = base.check(batch(rng, 10_000, p=[0.3, 0.4, 0.2, 0.1]))
    assert [f.feature for f in mass.drifted()] == ["channel"]


def test_a_report_turns_into_signals_that_policy_sees(make_tether: Callable[..., Tether]) -> None:
    rng = np.random.default_rng(12)
    base = Baseline.build(batch(rng, 20_000), window_size=5_000)
    report = base.check(batch(rng, 5_000, shift=1.0))
    (signal,) = report.signals("loan-model", window="w1")
    assert (signal.kind, signal.feature, signal.severity) == ("drift", "income", "high")
    assert signal.value > signal.threshold  # type: ignore[operator]
    t = make_tether()
    assert t.signals.emit(signal) is not None
    assert t.signals.for_policy("loan-model")["drift"] == "high"
    assert report.to_dict()["features"][0]["feature"] == "income"


def test_a_baseline_round_trips_through_json() -> None:
    rng = np.random.default_rng(13)
    base = Baseline.build(batch(rng, 5_000), window_size=1_000)
    again = Baseline.from_json(base.to_json())
    window = batch(rng, 1_000, shift=0.5)
    assert again.check(window).to_dict() == base.check(window).to_dict()


def test_bad_baselines_get_clear_errors() -> None:
    rng = np.random.default_rng(14)
    with pytest.raises(InvalidInput, match="at least 60 reference rows"):
        Baseline.build(batch(rng, 10), window_size=5)
    with pytest.raises(InvalidInput, match="window_size"):
        Baseline.build(batch(rng, 100), window_size=0)
    with pytest.raises(InvalidInput, match="not a tether baseline"):
        Baseline.from_json(b"{}")
