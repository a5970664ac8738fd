"""Calibrated and fixed thresholds, reference chunks, severity and dataset drift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tether.errors import InvalidInput
from tether.monitoring.drift import (
    SEVERITY_MULTIPLES,
    STATISTICS,
    DatasetDrift,
    LInfinity,
    Threshold,
    calibrate,
    chunk_size_for,
    dataset_drift,
    get_statistic,
    severity,
    split_counts,
)

P = np.array([0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05])
EDGES = np.concatenate([[-math.inf], np.arange(P.size - 1, dtype=float), [math.inf]])


def reference_bins(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(P.size, size=n, p=P)


# --- split_counts and chunk_size_for ------------------------------------------------------


def test_split_counts_counts_consecutive_chunks_and_leaves_the_remainder_out() -> None:
    bins = np.random.default_rng(1).integers(0, 5, size=1003)
    chunks = split_counts(bins, 100, 5)
    assert len(chunks) == 10
    for i, chunk in enumerate(chunks):
        assert chunk.tolist() == np.bincount(bins[i * 100 : (i + 1) * 100], minlength=5).tolist()
        assert chunk.dtype == np.int64


@pytest.mark.parametrize(
    ("bins", "chunk_size", "n_bins", "message"),
    [
        (np.array([0.0, 1.0]), 1, 2, "1-D integer array of bin indices, got float64"),
        (np.array([[0, 1]]), 1, 2, "1-D integer array"),
        (np.array([0, 2]), 1, 2, "bin indices must be in \\[0, 2\\); got 0..2"),
        (np.array([-1, 1]), 1, 2, "bin indices must be in"),
        (np.array([0, 1]), 3, 2, "the reference has 2 rows, fewer than chunk_size=3"),
        (np.array([0, 1]), 0, 2, "chunk_size must be a positive integer"),
        (np.array([0, 1]), 1, 0, "n_bins must be a positive integer"),
    ],
)
def test_split_counts_rejects_bad_input(
    bins: np.ndarray, chunk_size: int, n_bins: int, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        split_counts(bins, chunk_size, n_bins)


def test_chunk_size_is_the_window_when_the_reference_holds_enough_windows() -> None:
    assert chunk_size_for(300_000, 10_000) == 10_000
    assert chunk_size_for(299_999, 10_000) == 9_999  # fewer than 30 windows: smaller chunks
    assert chunk_size_for(1_000, 1_000) == 33
    assert chunk_size_for(1_000, 1_000, min_chunks=10) == 100


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((1, 1), {}, "the reference has 1 rows, too few to calibrate on 30 chunks"),
        ((0, 5), {}, "n_reference must be a positive integer"),
        ((100, 0), {}, "window_size must be a positive integer"),
        ((100, 5), {"min_chunks": 1}, "min_chunks must be an integer of at least 2"),
    ],
)
def test_chunk_size_for_rejects_bad_sizes(
    args: tuple[int, int], kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        chunk_size_for(*args, **kwargs)


# --- calibrate ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STATISTICS))
def test_threshold_is_mean_plus_k_std_of_the_chunk_values_carried_to_the_window(
    name: str,
) -> None:
    rng = np.random.default_rng(2)
    bins = reference_bins(rng, 9_000)
    total = np.bincount(bins, minlength=P.size)
    chunks = split_counts(bins, 300, P.size)
    stat = get_statistic(name)
    kw = {"edges": EDGES, "scale": 1.0}
    raw = np.array([stat.compute(total, c, **kw).value for c in chunks])
    n, c, w = 9_000.0, 300.0, 1_000.0
    factor = stat.null_scale(1 / w + 1 / n, n, w) / stat.null_scale(1 / c - 1 / n, n, c)
    adjusted = raw * factor
    threshold = calibrate(name, chunks, total, k=2.5, window_size=1_000, **kw)
    assert threshold == Threshold(
        statistic=name,
        mean=pytest.approx(adjusted.mean(), rel=1e-12),  # type: ignore[arg-type]
        std=pytest.approx(adjusted.std(ddof=1), rel=1e-12),  # type: ignore[arg-type]
        value=pytest.approx(adjusted.mean() + 2.5 * adjusted.std(ddof=1), rel=1e-12),  # type: ignore[arg-type]
        k=2.5,
        n_chunks=30,
        method="calibrated",
        window_size=1_000,
    )


def test_calibrate_takes_a_statistic_or_its_name_and_honours_a_floor() -> None:
    rng = np.random.default_rng(3)
    bins = reference_bins(rng, 3_000)
    total, chunks = np.bincount(bins, minlength=P.size), split_counts(bins, 100, P.size)
    by_name = calibrate("linf", chunks, total)
    assert calibrate(LInfinity(), chunks, total) == by_name
    assert by_name.window_size is None
    floored = calibrate("linf", chunks, total, floor=0.5)
    assert floored.value == 0.5
    assert (floored.mean, floored.std) == (by_name.mean, by_name.std)


@pytest.mark.parametrize("name", sorted(STATISTICS))
@pytest.mark.parametrize(("n_ref", "window"), [(30_000, 1_000), (30_000, 30_000), (3_000, 3_000)])
def test_calibration_matches_the_no_drift_distribution_of_window_against_reference(
    name: str, n_ref: int, window: int
) -> None:
    # The subtlety: chunk-vs-whole noise (1/c - 1/N) is not window-vs-reference noise
    # (1/w + 1/N). After the correction the calibrated mean and std match the real
    # no-drift distribution, both when chunks have the window's size (w << N) and when
    # the window is as large as the reference (chunks of N/30 rows). The truth varies
    # with each reference as much as with each window: average over many references.
    rng = np.random.default_rng(4)
    stat = get_statistic(name)
    kw = {"edges": EDGES, "scale": 1.0}
    means, stds, truth = [], [], []
    for _ in range(60):
        bins = reference_bins(rng, n_ref)
        total = np.bincount(bins, minlength=P.size)
        chunks = split_counts(bins, chunk_size_for(n_ref, window), P.size)
        t = calibrate(stat, chunks, total, window_size=window, **kw)
        means.append(t.mean)
        stds.append(t.std)
        values, _ = stat.compute_many(total, rng.multinomial(window, P, size=20), **kw)
        truth.extend(values)
    mean_ratio = np.mean(means) / np.mean(truth)
    std_ratio = np.mean(stds) / np.std(truth)
    print(f"{name} N={n_ref} w={window}: mean x{mean_ratio:.3f}, std x{std_ratio:.3f}")
    # On chunks of 100 rows (N = w = 3,000), where the 5 % bin expects 5 rows, PSI's
    # empty-bin terms make its threshold conservative (larger), never smaller.
    small_psi = name == "psi" and n_ref == 3_000
    assert 0.93 <= mean_ratio <= (1.15 if small_psi else 1.07)
    assert 0.85 <= std_ratio <= (1.5 if small_psi else 1.2)


def test_uncorrected_chunk_against_whole_would_misjudge_the_noise() -> None:
    # A window as large as the reference: chunks must be smaller than the window, and
    # their raw chunk-vs-whole values are about sqrt((1/c - 1/N) / (2/N)) = 3.8 times
    # too large for a distance; calibration carries them to the window's noise.
    rng = np.random.default_rng(5)
    stat = LInfinity()
    raw_means, calibrated_means, truth = [], [], []
    for _ in range(30):
        bins = reference_bins(rng, 30_000)
        total = np.bincount(bins, minlength=P.size)
        chunks = split_counts(bins, chunk_size_for(30_000, 30_000), P.size)
        raw_means.append(stat.compute_many(total, np.array(chunks))[0].mean())
        calibrated_means.append(calibrate(stat, chunks, total, window_size=30_000).mean)
        truth.extend(stat.compute_many(total, rng.multinomial(30_000, P, size=20))[0])
    assert np.mean(raw_means) / np.mean(truth) == pytest.approx(math.sqrt(29 / 2), rel=0.1)
    assert np.mean(calibrated_means) == pytest.approx(np.mean(truth), rel=0.07)


@pytest.mark.parametrize(
    ("chunks", "total", "kwargs", "message"),
    [
        ([[1, 1, 1]], [9, 9, 9], {}, "at least 2 reference chunks of counts, got shape \\(1, 3\\)"),
        ([[1, 1], [1, 1, 1]], [9, 9, 9], {}, "count vectors of equal length"),
        ([[1, 1, 1], [1, 1, 1]], [9, 9], {}, "current counts have 3 bins but reference"),
        ([[1, 1, 1], [1, 1, 1]], [[9, 9, 9]], {}, "reference_total must be the reference's 1-D"),
        ([[1, 1, 1], [1, 10, 1]], [9, 9, 9], {}, "reference chunk 1 has more rows in some bin"),
        ([[1, 1, 1], [9, 9, 9]], [9, 9, 9], {}, "reference chunk 1 is the whole reference"),
        ([[1, 1, 1], [1, 1, 1]], [9, 9, 9], {"k": -1}, "k must be non-negative"),
        ([[1, 1, 1], [1, 1, 1]], [9, 9, 9], {"k": math.nan}, "k must be finite"),
        ([[1, 1, 1], [1, 1, 1]], [9, 9, 9], {"floor": "x"}, "floor must be a number"),
        ([[1, 1, 1], [1, 1, 1]], [9, 9, 9], {"window_size": 0}, "window_size must be a positive"),
        ([[1, 1, 1], [0, 0, 0]], [9, 9, 9], {}, "current counts are all zero \\(row 1\\)"),
    ],
)
def test_calibrate_rejects_bad_input(
    chunks: object, total: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        calibrate("linf", chunks, total, **kwargs)  # type: ignore[arg-type]


def test_calibrate_passes_on_the_statistics_own_errors() -> None:
    with pytest.raises(InvalidInput, match="wasserstein needs scale="):
        calibrate("wasserstein", [[1, 1], [1, 1]], [5, 5], edges=[0, 1, 2])
    with pytest.raises(InvalidInput, match="unknown drift statistic 'psy'"):
        calibrate("psy", [[1, 1], [1, 1]], [5, 5])


# --- fixed thresholds and severity --------------------------------------------------------


def test_fixed_thresholds_have_no_calibration() -> None:
    assert Threshold.fixed("psi", 0.25) == Threshold("psi", 0.25, 0.0, 0.25, 0.0, 0, "fixed")
    assert Threshold.fixed("psi", 0.25).exceeded(0.26)
    assert not Threshold.fixed("psi", 0.25).exceeded(0.25)
    with pytest.raises(InvalidInput, match="threshold value must be finite"):
        Threshold.fixed("psi", math.inf)
    with pytest.raises(InvalidInput, match="threshold value must be a number"):
        Threshold.fixed("psi", "high")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "none"),
        (0.2, "none"),
        (0.2000001, "low"),
        (0.3, "low"),
        (0.3000001, "medium"),
        (0.4, "medium"),
        (0.4000001, "high"),
        (5.0, "high"),
        (math.nan, "none"),
    ],
)
def test_severity_is_graded_in_multiples_of_the_threshold(value: float, expected: str) -> None:
    assert SEVERITY_MULTIPLES == (1.0, 1.5, 2.0)
    assert severity(value, Threshold.fixed("psi", 0.2)) == expected


def test_severity_against_a_zero_threshold_is_high_for_any_excess() -> None:
    assert severity(0.0, Threshold.fixed("linf", 0.0)) == "none"
    assert severity(1e-9, Threshold.fixed("linf", 0.0)) == "high"


# --- dataset drift ------------------------------------------------------------------------


def test_dataset_drift_is_the_share_of_drifted_features() -> None:
    flags = {"age": True, "income": False, "region": True, "channel": False}
    assert dataset_drift(flags) == DatasetDrift(0.5, ("age", "region"), True)
    assert dataset_drift(flags, share=0.75) == DatasetDrift(0.5, ("age", "region"), False)
    assert dataset_drift({"a": False}) == DatasetDrift(0.0, (), False)


@pytest.mark.parametrize(
    ("flags", "share", "message"),
    [
        ({}, 0.5, "at least one feature's flag"),
        ({"a": True}, 0.0, "share must be in \\(0, 1\\], got 0.0"),
        ({"a": True}, 1.5, "share must be in"),
        ({"a": True}, math.nan, "share must be in"),
    ],
)
def test_dataset_drift_rejects_bad_input(
    flags: dict[str, bool], share: float, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        dataset_drift(flags, share)
