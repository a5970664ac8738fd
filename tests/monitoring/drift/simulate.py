"""Fast, vectorised no-drift and drift data, binned the way profiles bin it.

Numeric columns are standard normal, binned on the reference's inner deciles with two
open outer bins (edges ``[-inf, q10, ..., q90, +inf]``, as ``tether.monitoring.Profile``
does); categorical columns have one bin per category plus an empty "other" bin.

The reference is drawn row by row (calibration needs each row's bin, in order). The
window only needs its counts over fixed bins, which are exactly multinomial with the
true bin probabilities (``Phi(e_j - shift) - Phi(e_{j-1} - shift)`` for a normal
column), so they are drawn as such: no rows, same distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from tether.monitoring.drift import (
    calibrate,
    chunk_size_for,
    defaults_for,
    get_statistic,
    split_counts,
)

N_NUMERIC, N_CATEGORICAL, N_DECILES = 10, 5, 10
CATEGORY_P = np.array([0.30, 0.25, 0.20, 0.12, 0.08, 0.05])


@dataclass
class Column:
    """One feature: the reference's per-row bins and total counts, the window's counts."""

    kind: str
    ref_bins: np.ndarray
    ref_counts: np.ndarray
    cur_counts: np.ndarray
    edges: np.ndarray | None = None
    scale: float | None = None


def numeric_columns(
    rng: np.random.Generator, n_ref: int, n_cur: int, shifts: np.ndarray
) -> list[Column]:
    """Normal columns (one per shift); the window's mean is moved by ``shift`` sigmas."""
    ref = rng.standard_normal((shifts.size, n_ref))
    inner = np.quantile(ref, np.linspace(0, 1, N_DECILES + 1)[1:-1], axis=1).T
    edges = np.hstack(
        [np.full((shifts.size, 1), -np.inf), inner, np.full((shifts.size, 1), np.inf)]
    )
    probs = np.diff(special.ndtr(edges - shifts[:, np.newaxis]), axis=1)
    cur = rng.multinomial(n_cur, probs / probs.sum(axis=1, keepdims=True))
    out = []
    for j in range(shifts.size):
        bins = np.searchsorted(inner[j], ref[j], side="left")
        out.append(Column("numeric", bins, np.bincount(bins, minlength=N_DECILES), cur[j],
                          edges[j], float(ref[j].std())))  # fmt: skip
    return out


def categorical_columns(
    rng: np.random.Generator, n_ref: int, n_cur: int, window_p: np.ndarray
) -> list[Column]:
    """Columns drawn from ``CATEGORY_P`` in the reference and ``window_p[j]`` (a row
    of probabilities per column) in the window; bin ``len(CATEGORY_P)`` is "other"."""
    n_bins = CATEGORY_P.size + 1
    cdf = np.cumsum(CATEGORY_P)
    cdf[-1] = 1.0
    ref = np.searchsorted(cdf, rng.random((window_p.shape[0], n_ref)), side="right")
    cur = rng.multinomial(n_cur, window_p)
    return [
        Column("categorical", ref[j], np.bincount(ref[j], minlength=n_bins), np.append(cur[j], 0))
        for j in range(window_p.shape[0])
    ]


def trial(
    rng: np.random.Generator,
    n: int,
    *,
    shift: float = 0.0,
    window_p: np.ndarray | None = None,
    n_cur: int | None = None,
) -> list[Column]:
    """A reference of ``n`` rows and a window (``n_cur``, default ``n``) over 10 numeric
    and 5 categorical columns; ``shift`` moves the first numeric column's mean and
    ``window_p`` replaces the first categorical column's probabilities in the window."""
    shifts = np.zeros(N_NUMERIC)
    shifts[0] = shift
    probs = np.tile(CATEGORY_P, (N_CATEGORICAL, 1))
    if window_p is not None:
        probs[0] = window_p
    m = n if n_cur is None else n_cur
    return numeric_columns(rng, n, m, shifts) + categorical_columns(rng, n, m, probs)


def flags(column: Column, *, k: float = 3.0) -> dict[str, bool]:
    """Each default statistic's verdict, thresholds calibrated on the column's reference
    for a window of the window's size (as the profile layer does)."""
    window = int(column.cur_counts.sum())
    size = chunk_size_for(column.ref_bins.size, window)
    chunks = split_counts(column.ref_bins, size, column.ref_counts.size)
    out = {}
    for name in defaults_for(column.kind):
        stat = get_statistic(name)
        threshold = calibrate(
            stat, chunks, column.ref_counts, k=k, edges=column.edges, scale=column.scale,
            window_size=window,
        )  # fmt: skip
        value = stat.compute(column.ref_counts, column.cur_counts, edges=column.edges,
                             scale=column.scale).value  # fmt: skip
        out[name] = threshold.exceeded(value)
    return out
