"""Multivariate drift by PCA reconstruction error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tether.errors import InvalidInput
from tether.monitoring.drift import KolmogorovSmirnov, PCADrift


def correlated(rng: np.random.Generator, n: int) -> np.ndarray:
    """Six columns driven by two latent factors plus noise, in different units."""
    factors = rng.standard_normal((n, 2))
    loadings = np.array([[1.0, 0.8, 0.6, 0.0, 0.1, 0.5], [0.0, 0.3, 0.5, 1.0, 0.9, -0.5]])
    x = factors @ loadings + 0.3 * rng.standard_normal((n, 6))
    return x * np.array([1.0, 10.0, 0.1, 5.0, 1.0, 100.0]) + np.array([0, 50, 1, 0, -3, 1e3])


def test_no_drift_windows_are_rarely_flagged_and_broken_correlations_always() -> None:
    rng = np.random.default_rng(21)
    detector = PCADrift(window_size=1_000).fit(correlated(rng, 50_000))
    quiet = [detector.is_drift(correlated(rng, 1_000)) for _ in range(50)]
    # Same marginals, no correlations: shuffle each column independently.
    broken = [detector.is_drift(rng.permuted(correlated(rng, 1_000), axis=0)) for _ in range(20)]
    print(f"\nPCA drift: no-drift windows flagged {np.mean(quiet):.0%}, "
          f"decorrelated windows flagged {np.mean(broken):.0%}")  # fmt: skip
    assert sum(quiet) <= 2
    assert all(broken)


def test_univariate_statistics_cannot_see_what_pca_sees() -> None:
    rng = np.random.default_rng(22)
    reference = correlated(rng, 20_000)
    window = rng.permuted(correlated(rng, 2_000), axis=0)
    edges = np.quantile(reference[:, 0], np.linspace(0, 1, 11))
    edges[0], edges[-1] = -math.inf, math.inf
    ref_counts = np.histogram(reference[:, 0], edges)[0]
    cur_counts = np.histogram(window[:, 0], edges)[0]
    p_value = KolmogorovSmirnov().compute(ref_counts, cur_counts).p_value
    assert p_value is not None
    assert p_value > 0.01
    assert PCADrift(window_size=2_000).fit(reference).is_drift(window)


def test_fit_learns_underscored_state_and_a_calibrated_threshold() -> None:
    rng = np.random.default_rng(23)
    detector = PCADrift(variance=0.65, k=3.0, window_size=500)
    assert vars(detector) == {"variance": 0.65, "k": 3.0, "window_size": 500, "min_chunks": 30}
    assert detector.fit(correlated(rng, 30_000)) is detector
    assert detector.n_features_in_ == 6
    assert detector.n_components_ == 2  # two factors explain well over 65 %
    assert detector.components_.shape == (2, 6)
    t = detector.threshold_
    assert (t.statistic, t.method, t.n_chunks, t.window_size) == (
        "pca_reconstruction",
        "calibrated",
        60,
        500,
    )
    assert t.value == pytest.approx(t.mean + 3.0 * t.std)
    assert detector.errors(correlated(rng, 7)).shape == (7,)
    assert detector.score(correlated(rng, 500)).statistic == "pca_reconstruction"
    assert repr(detector) == "PCADrift(variance=0.65, k=3.0, window_size=500, min_chunks=30)"


def test_the_threshold_std_is_carried_to_the_window_size() -> None:
    x = correlated(np.random.default_rng(24), 60_000)
    small, large = PCADrift(window_size=100).fit(x), PCADrift(window_size=2_000).fit(x)
    assert small.threshold_.mean == pytest.approx(large.threshold_.mean)
    assert small.threshold_.std / large.threshold_.std == pytest.approx(math.sqrt(20), rel=0.35)


@pytest.mark.parametrize(
    ("params", "data", "message"),
    [
        ({}, np.ones((100, 1)), "at least 2 numeric columns"),
        ({}, np.full((100, 3), np.nan), "impute or drop missing values"),
        ({}, np.ones(100), "2-D matrix"),
        ({}, [["a", "b"]] * 100, "numeric matrix"),
        ({}, np.ones((100, 3)), "every reference column is constant"),
        ({}, np.ones((10, 3)), "the reference has 10 rows, too few to calibrate on 30 chunks"),
        ({"variance": 1.0}, np.ones((100, 3)), "variance must be in \\(0, 1\\)"),
        ({"k": -1}, np.ones((100, 3)), "k must be a non-negative finite number"),
    ],
)
def test_fit_rejects_bad_input(params: dict[str, float], data: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PCADrift(**params).fit(data)  # type: ignore[arg-type]


def test_scoring_needs_a_fitted_detector_and_the_same_columns() -> None:
    rng = np.random.default_rng(25)
    with pytest.raises(InvalidInput, match="not fitted; call fit"):
        PCADrift().score(correlated(rng, 10))
    detector = PCADrift().fit(correlated(rng, 3_000))
    with pytest.raises(InvalidInput, match="rows have 5 columns but the detector was fitted on 6"):
        detector.is_drift(correlated(rng, 10)[:, :5])
