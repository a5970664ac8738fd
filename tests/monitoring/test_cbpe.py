"""CBPE: performance estimated from calibrated scores, before labels arrive."""

from __future__ import annotations

import numpy as np
import pytest

from tether import InvalidInput
from tether.monitoring import CBPE
from tether.monitoring._cbpe import _realised


def simulate(
    rng: np.random.Generator, n: int, spread: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """A calibrated model: score = P(y = 1 | x) exactly; ``spread`` is how far inputs are
    from the decision boundary (smaller: the model is less sure, and less accurate)."""
    x = rng.normal(0, spread, n)
    scores = 1 / (1 + np.exp(-x))
    labels = rng.random(n) < scores
    return scores, labels


def test_estimates_are_within_two_points_of_the_realised_values_per_window() -> None:
    rng = np.random.default_rng(21)
    cbpe = CBPE(chunk_size=5_000).fit(*simulate(rng, 50_000))
    worst = {"accuracy": 0.0, "roc_auc": 0.0}
    for _ in range(10):
        scores, labels = simulate(rng, 5_000)
        est = cbpe.estimate(scores)
        real = _realised(scores, labels, 0.5)
        for m in worst:
            worst[m] = max(worst[m], abs(est.metrics[m] - real[m]))
        assert est.alerts == ()
    assert worst["accuracy"] < 0.02, worst
    assert worst["roc_auc"] < 0.02, worst


def test_a_degrading_window_is_flagged_before_its_labels_arrive() -> None:
    rng = np.random.default_rng(22)
    cbpe = CBPE(chunk_size=5_000).fit(*simulate(rng, 50_000))
    scores, labels = simulate(rng, 5_000, spread=0.7)  # inputs move near the boundary
    est = cbpe.estimate(scores)
    assert "accuracy" in est.alerts
    real = _realised(scores, labels, 0.5)
    assert real["accuracy"] < est.lower_bounds["accuracy"]  # the labels later agree
    assert abs(est.metrics["accuracy"] - real["accuracy"]) < 0.02


def test_cbpe_input_is_checked() -> None:
    with pytest.raises(InvalidInput, match="two reference chunks"):
        CBPE(chunk_size=5_000).fit(np.zeros(100), np.zeros(100))
    with pytest.raises(InvalidInput, match="one class only"):
        CBPE(chunk_size=10).fit(np.linspace(0, 1, 100), np.ones(100))
    with pytest.raises(InvalidInput, match="not fitted"):
        CBPE().estimate(np.zeros(10))
