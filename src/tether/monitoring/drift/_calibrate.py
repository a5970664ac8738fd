"""Thresholds calibrated on the reference, and severity levels.

Calibration answers "how large is this statistic when nothing drifted?" from the
reference alone: split the reference into chunks, compare each chunk with the whole
reference, and alert beyond ``mean + k * std`` of those values (``k = 3`` by default).

Sampling noise. A window of ``w`` rows compared with a reference of ``N`` rows differs
from it by noise with variance factor ``1/w + 1/N`` (two independent samples). A chunk
of ``c`` rows compared with the whole reference it belongs to differs by only
``1/c - 1/N`` (the chunk is part of the whole). Two things keep the threshold honest:

* the reference is split into chunks of the *window's* size when it holds at least
  ``min_chunks`` of them (``chunk_size_for``); the profile layer calls
  ``split_counts`` with that size, so chunks have the window's noise;
* every chunk's value is then carried to the window's noise with the statistic's
  ``null_scale`` (``(v_window / v_chunk) ** noise_power``: 0.5 for distances, 1 for
  PSI; chi-square also undoes its own size factor). With ``N`` much larger than ``w``
  the correction is close to 1; when the reference is no larger than the window
  (the chunks are then smaller than the window) it does all the work.

Thresholds can also be fixed (``Threshold.fixed``), and a calibrated threshold can be
given a ``floor``: on very large windows calibrated thresholds become tiny, and a
floor keeps practically irrelevant shifts (0.02 sigma at a million rows) quiet.

Severity is in multiples of the threshold value: at most 1x is ``"none"``, up to
1.5x ``"low"``, up to 2x ``"medium"``, beyond 2x ``"high"``. Multiples (rather than
sigma units) work the same for calibrated and fixed thresholds.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> bins = rng.integers(0, 4, size=10_000)
    >>> chunks = split_counts(bins, chunk_size_for(10_000, 250), 4)
    >>> t = calibrate("linf", chunks, np.bincount(bins, minlength=4), window_size=250)
    >>> t.method, t.n_chunks, t.value > t.mean > 0
    ('calibrated', 40, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from tether.errors import InvalidInput
from tether.monitoring.drift._base import DriftStatistic, FloatArray, validate_counts
from tether.monitoring.drift._registry import get_statistic

__all__ = [
    "SEVERITY_MULTIPLES",
    "Severity",
    "Threshold",
    "calibrate",
    "chunk_size_for",
    "severity",
    "split_counts",
]

Severity = Literal["none", "low", "medium", "high"]

#: Upper bounds, in multiples of the threshold value, of "none", "low" and "medium".
SEVERITY_MULTIPLES = (1.0, 1.5, 2.0)


@dataclass(frozen=True)
class Threshold:
    """The alert threshold of one statistic.

    Attributes:
        statistic: The statistic's registry name.
        mean: Mean of the statistic over the reference chunks (the value, if fixed).
        std: Their standard deviation (0 if fixed).
        value: The threshold: a value above it is drift.
        k: The multiple of ``std`` above ``mean`` (0 if fixed).
        n_chunks: How many chunks calibrated it (0 if fixed).
        method: ``"calibrated"`` or ``"fixed"``.
        window_size: The window size the threshold was calibrated for (``None`` when
            it was calibrated for windows of the chunks' own size, or is fixed).

    Example:
        >>> t = Threshold.fixed("psi", 0.2)
        >>> t.value, t.exceeded(0.25), t.exceeded(0.1)
        (0.2, True, False)
    """

    statistic: str
    mean: float
    std: float
    value: float
    k: float
    n_chunks: int
    method: Literal["calibrated", "fixed"] = "calibrated"
    window_size: int | None = None

    @classmethod
    def fixed(cls, statistic: str, value: float) -> Threshold:
        """Return a fixed threshold (no calibration).

        Raises:
            InvalidInput: If ``value`` is not a finite number.
        """
        v = _finite(value, "threshold value")
        return cls(statistic, mean=v, std=0.0, value=v, k=0.0, n_chunks=0, method="fixed")

    def exceeded(self, value: float) -> bool:
        """Return whether ``value`` is beyond the threshold (drift)."""
        return value > self.value


def _finite(value: float, label: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{label} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise InvalidInput(f"{label} must be finite, got {v!r}")
    return v


def calibrate(
    statistic: DriftStatistic | str,
    reference_chunks: Sequence[npt.ArrayLike] | npt.ArrayLike,
    reference_total: npt.ArrayLike,
    *,
    k: float = 3.0,
    edges: npt.ArrayLike | None = None,
    scale: float | None = None,
    window_size: int | None = None,
    floor: float = 0.0,
) -> Threshold:
    """Calibrate a statistic's threshold on reference chunks.

    Each chunk's counts are compared with the whole reference's counts; each value is
    carried to the noise of a window of ``window_size`` rows compared with the
    reference (see the module docstring); the threshold is
    ``max(mean + k * std, floor)`` over the chunks.

    Args:
        statistic: A statistic, or its registry name.
        reference_chunks: Count vectors of consecutive reference chunks
            (``split_counts``), at least two, each a part of the reference.
        reference_total: The whole reference's counts.
        k: How many standard deviations above the mean to alert (default 3).
        edges: Bin edges, for statistics that need them.
        scale: The reference's standard deviation, for statistics that need it.
        window_size: The rows per monitored window; default: the size of each chunk
            (chunks were cut at the window's size).
        floor: The lowest threshold allowed (an effect-size floor; default 0).

    Returns:
        The calibrated threshold.

    Raises:
        InvalidInput: If there are fewer than two chunks, a chunk is not a strict
            part of the reference, ``k``, ``floor`` or ``window_size`` is invalid, or
            the statistic rejects the counts.
    """
    stat = get_statistic(statistic) if isinstance(statistic, str) else statistic
    if not stat.higher_is_drift:
        raise InvalidInput(f"{stat.name}: calibration supports higher-is-drift statistics only")
    k_value, floor_value = _finite(k, "k"), _finite(floor, "floor")
    if k_value < 0:
        raise InvalidInput(f"k must be non-negative, got {k_value!r}")
    chunks = _as_chunks(reference_chunks)
    if np.ndim(reference_total) != 1:
        raise InvalidInput(
            f"reference_total must be the reference's 1-D counts, got shape "
            f"{np.shape(reference_total)}"
        )
    total, chunks = validate_counts(reference_total, chunks, many=True)
    _check_parts(chunks, total)
    values, _ = stat.compute_many(total, chunks, edges=edges, scale=scale)
    n = float(total.sum())
    c = chunks.sum(axis=1)
    w = c if window_size is None else np.full_like(c, _window(window_size))
    factor = stat.null_scale(1.0 / w + 1.0 / n, n, w) / stat.null_scale(1.0 / c - 1.0 / n, n, c)
    adjusted = values * factor
    mean, std = float(adjusted.mean()), float(adjusted.std(ddof=1))
    value = max(mean + k_value * std, floor_value)
    return Threshold(
        stat.name, mean, std, value, k_value, int(adjusted.size), "calibrated", window_size
    )


def _as_chunks(reference_chunks: Sequence[npt.ArrayLike] | npt.ArrayLike) -> FloatArray:
    try:
        chunks = np.asarray(reference_chunks, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"reference_chunks must be count vectors of equal length: {exc}"
        ) from None
    if chunks.ndim != 2 or chunks.shape[0] < 2:
        raise InvalidInput(
            f"calibration needs at least 2 reference chunks of counts, got shape {chunks.shape}; "
            "split the reference with split_counts(bins, chunk_size_for(n, window), n_bins)"
        )
    return chunks


def _check_parts(chunks: FloatArray, total: FloatArray) -> None:
    over = np.flatnonzero((chunks > total).any(axis=1))
    if over.size:
        raise InvalidInput(
            f"reference chunk {int(over[0])} has more rows in some bin than the whole "
            "reference; pass chunks of the reference itself and its total counts"
        )
    whole = np.flatnonzero(chunks.sum(axis=1) >= total.sum())
    if whole.size:
        raise InvalidInput(
            f"reference chunk {int(whole[0])} is the whole reference; use smaller chunks "
            "(chunk_size_for picks a size)"
        )


def _window(window_size: int) -> float:
    if not isinstance(window_size, int | np.integer) or window_size < 1:
        raise InvalidInput(f"window_size must be a positive integer, got {window_size!r}")
    return float(window_size)


def chunk_size_for(n_reference: int, window_size: int, *, min_chunks: int = 30) -> int:
    """Return the chunk size to split a reference into for windows of ``window_size``.

    The window's size when the reference holds at least ``min_chunks`` windows;
    otherwise ``n_reference // min_chunks`` (calibration then rescales the chunks'
    values to the window's noise).

    Why 30 chunks by default: the threshold's standard deviation is estimated from
    the chunks, and its estimation error adds false alarms. For a Gaussian statistic,
    ``mean + 3 std`` over 10 chunks is exceeded about 0.9 % of the time (Student t
    with 9 degrees of freedom), over 30 chunks 0.3 %, with exact moments 0.13 %.
    Smaller chunks cost little: calibration rescales their values to the window's
    noise, and below ~50 rows a chunk only makes PSI and Jensen-Shannon thresholds
    conservative (empty bins).

    Raises:
        InvalidInput: If the sizes are not positive integers or the reference has
            fewer than ``min_chunks`` rows.

    Example:
        >>> chunk_size_for(100_000, 1_000), chunk_size_for(6_000, 6_000)
        (1000, 200)
    """
    for label, v in (("n_reference", n_reference), ("window_size", window_size)):
        if not isinstance(v, int | np.integer) or v < 1:
            raise InvalidInput(f"{label} must be a positive integer, got {v!r}")
    if not isinstance(min_chunks, int | np.integer) or min_chunks < 2:
        raise InvalidInput(f"min_chunks must be an integer of at least 2, got {min_chunks!r}")
    if n_reference < min_chunks:
        raise InvalidInput(
            f"the reference has {n_reference} rows, too few to calibrate on {min_chunks} "
            "chunks; use a larger reference or fixed thresholds (Threshold.fixed)"
        )
    if window_size * min_chunks <= n_reference:
        return int(window_size)
    return int(n_reference // min_chunks)


def split_counts(
    samples_bins: npt.ArrayLike, chunk_size: int, n_bins: int
) -> list[npt.NDArray[np.int64]]:
    """Count the bins of consecutive reference chunks.

    The profile layer calls this with each reference row's bin index, in the
    reference's row order, and ``chunk_size = chunk_size_for(n, window_size)``: chunks
    of the window's size keep the reference's own order (and so any drift within
    it). Rows after the last full chunk are left out of the chunks (they still count
    in the reference's total).

    Args:
        samples_bins: Integer bin index of each reference row, in ``[0, n_bins)``.
        chunk_size: Rows per chunk.
        n_bins: The number of bins.

    Returns:
        One count vector (length ``n_bins``) per full chunk.

    Raises:
        InvalidInput: If the indices are not integers in range, or there are fewer
            rows than one chunk.

    Example:
        >>> [c.tolist() for c in split_counts([0, 1, 1, 2, 2, 2, 0], 3, 3)]
        [[1, 2, 0], [0, 0, 3]]
    """
    bins = np.asarray(samples_bins)
    if bins.ndim != 1 or bins.dtype.kind not in "iu":
        raise InvalidInput(
            f"samples_bins must be a 1-D integer array of bin indices, got {bins.dtype} "
            f"with shape {bins.shape}"
        )
    for label, v in (("chunk_size", chunk_size), ("n_bins", n_bins)):
        if not isinstance(v, int | np.integer) or v < 1:
            raise InvalidInput(f"{label} must be a positive integer, got {v!r}")
    if bins.size and (bins.min() < 0 or bins.max() >= n_bins):
        raise InvalidInput(f"bin indices must be in [0, {n_bins}); got {bins.min()}..{bins.max()}")
    n_chunks = bins.size // chunk_size
    if n_chunks < 1:
        raise InvalidInput(
            f"the reference has {bins.size} rows, fewer than chunk_size={chunk_size}; "
            "use chunk_size_for(n_reference, window_size)"
        )
    rows = bins[: n_chunks * chunk_size].astype(np.int64).reshape(n_chunks, chunk_size)
    flat = rows + (np.arange(n_chunks, dtype=np.int64) * n_bins)[:, np.newaxis]
    counts = np.bincount(flat.ravel(), minlength=n_chunks * n_bins).reshape(n_chunks, n_bins)
    return list(counts.astype(np.int64))


def severity(value: float, threshold: Threshold) -> Severity:
    """Grade a value against its threshold, in multiples of the threshold value.

    ``value <= t``: ``"none"``; up to 1.5 t: ``"low"``; up to 2 t: ``"medium"``;
    beyond: ``"high"``. With a threshold of zero or less, any exceeding value is
    ``"high"``.

    Example:
        >>> t = Threshold.fixed("psi", 0.1)
        >>> [severity(v, t) for v in (0.05, 0.12, 0.18, 0.3)]
        ['none', 'low', 'medium', 'high']
    """
    t = threshold.value
    if not value > t:  # NaN is not drift
        return "none"
    if t <= 0:
        return "high"
    _, low, medium = SEVERITY_MULTIPLES
    ratio = value / t
    if ratio <= low:
        return "low"
    return "medium" if ratio <= medium else "high"
