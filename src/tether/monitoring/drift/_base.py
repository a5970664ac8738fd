"""The common base of drift statistics: results, input validation and bin positions.

A drift statistic compares two histograms over the same bins: the *reference* counts
and the *current* (window) counts. Numeric columns are binned on the reference's
quantile edges (the two outer bins are open-ended); categorical columns have one bin
per category plus "other".

Example:
    >>> from tether.monitoring.drift import STATISTICS
    >>> STATISTICS["linf"]().compute([50, 25, 25], [25, 50, 25])
    StatResult(statistic='linf', value=0.25, p_value=None)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from tether.errors import InvalidInput

__all__ = [
    "DriftStatistic",
    "FloatArray",
    "Kind",
    "StatResult",
    "bin_positions",
    "proportions",
    "validate_counts",
    "validate_scale",
]

FloatArray = npt.NDArray[np.float64]
Kind = Literal["numeric", "categorical", "both"]


@dataclass(frozen=True)
class StatResult:
    """One statistic's value between a reference and a current histogram.

    Attributes:
        statistic: The statistic's registry name (``"psi"``, ``"ks"``, ...).
        value: The statistic; for every built-in statistic, higher means more drift.
        p_value: A p-value where the statistic is a test (KS, chi-square), else ``None``.
            It is reported for information: alerts use calibrated thresholds.

    Example:
        >>> StatResult("psi", 0.02)
        StatResult(statistic='psi', value=0.02, p_value=None)
    """

    statistic: str
    value: float
    p_value: float | None = None


class DriftStatistic(ABC):
    """Base of every drift statistic (one subclass per file, registered by ``name``).

    Subclasses follow the estimator contract: ``__init__`` takes keyword parameters
    only and stores them unchanged; they are validated when used. A statistic has no
    learned state: the same instance may be used for any number of comparisons.

    Class attributes:
        name: The registry name, also ``StatResult.statistic``.
        kind: The columns it applies to: ``"numeric"``, ``"categorical"`` or ``"both"``.
        higher_is_drift: A larger value means more drift (true for all built-ins).
        noise_power: Under no drift the statistic is about ``v ** noise_power`` times a
            size-free random variable, where ``v`` is the variance factor of the
            difference of the two frequency vectors (``1/n + 1/m`` for independent
            samples of ``n`` and ``m`` rows). Calibration uses it to carry thresholds
            from reference chunks over to windows of another size (see ``null_scale``).

    Example:
        >>> from tether.monitoring.drift import Hellinger
        >>> Hellinger().compute([10, 10], [10, 10]).value
        0.0
    """

    name: ClassVar[str]
    kind: ClassVar[Kind]
    higher_is_drift: ClassVar[bool] = True
    noise_power: ClassVar[float] = 0.5

    def compute(
        self,
        reference: npt.ArrayLike,
        current: npt.ArrayLike,
        *,
        edges: npt.ArrayLike | None = None,
        scale: float | None = None,
    ) -> StatResult:
        """Compare the current histogram with the reference histogram.

        Args:
            reference: Non-negative counts per bin of the reference.
            current: Non-negative counts over the same bins for the current window.
            edges: Bin edges (``len(counts) + 1``; ``-inf``/``+inf`` allowed at the
                ends), for statistics that need bin positions; ignored by the others.
            scale: The reference's standard deviation, for statistics normalised by
                it; ignored by the others.

        Returns:
            The statistic's value (and p-value where it has one).

        Raises:
            InvalidInput: If the counts are not two equally long, non-negative, finite
                vectors with at least one count each, or ``edges``/``scale`` are
                missing or malformed where the statistic needs them.
        """
        ref, cur = validate_counts(reference, current)
        values, p_values = self._values(ref[np.newaxis, :], cur[np.newaxis, :], edges, scale)
        p_value = None if p_values is None else float(p_values[0])
        return StatResult(self.name, float(values[0]), p_value)

    def compute_many(
        self,
        reference: npt.ArrayLike,
        currents: npt.ArrayLike,
        *,
        edges: npt.ArrayLike | None = None,
        scale: float | None = None,
    ) -> tuple[FloatArray, FloatArray | None]:
        """Compare many current histograms (rows of ``currents``) with their references.

        Vectorised over the rows. ``reference`` is one histogram shared by every row
        (calibration compares every reference chunk with the whole reference) or a
        matrix of the same shape as ``currents``, compared row by row.

        Returns:
            The values, one per row, and the p-values (or ``None``).

        Raises:
            InvalidInput: As for :meth:`compute`; every row is checked.

        Example:
            >>> from tether.monitoring.drift import LInfinity
            >>> values, _ = LInfinity().compute_many([5, 5], [[5, 5], [10, 0]])
            >>> values.tolist()
            [0.0, 0.5]
        """
        ref, cur = validate_counts(reference, currents, many=True)
        return self._values(ref.reshape(-1, cur.shape[1]), cur, edges, scale)

    def null_scale(
        self,
        variance: FloatArray | float,
        n_reference: FloatArray | float,
        n_current: FloatArray | float,
    ) -> FloatArray:
        """Return the scale of the statistic's no-drift distribution.

        Args:
            variance: Variance factor of the difference of the two frequency vectors:
                ``1/n + 1/m`` for independent samples, ``1/c - 1/N`` for a chunk of
                ``c`` rows compared with the whole reference of ``N`` rows it is part of.
            n_reference: Rows in the reference histogram.
            n_current: Rows in the current histogram.

        Returns:
            ``variance ** noise_power``; statistics that multiply by the sample sizes
            themselves (chi-square) override this.
        """
        return np.asarray(variance**self.noise_power, dtype=np.float64)

    @abstractmethod
    def _values(
        self,
        reference: FloatArray,
        currents: FloatArray,
        edges: npt.ArrayLike | None,
        scale: float | None,
    ) -> tuple[FloatArray, FloatArray | None]:
        """Compute the statistic for each row of ``currents`` (already validated).

        ``reference`` has one row (shared) or as many rows as ``currents``.
        """

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))


def validate_counts(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, many: bool = False
) -> tuple[FloatArray, FloatArray]:
    """Check two histograms and return them as float arrays.

    Args:
        reference: The reference counts, one per bin (with ``many``, also a matrix of
            the same shape as ``current``: one reference per row).
        current: The current counts over the same bins (with ``many``, a matrix, one
            histogram per row).
        many: Accept 2-D inputs.

    Returns:
        ``(reference, current)`` as ``float64`` arrays.

    Raises:
        InvalidInput: If a shape is wrong, the numbers of bins differ, a count is
            negative, NaN or infinite, or a histogram is all zero.

    Example:
        >>> validate_counts([1, 2], [3, 0])[1].tolist()
        [3.0, 0.0]
    """
    ref = _as_float(reference, "reference counts")
    cur = _as_float(current, "current counts")
    want = 2 if many else 1
    if cur.ndim != want or cur.shape[-1] == 0 or cur.size == 0:
        what = (
            "a non-empty 2-D matrix (one histogram per row)" if many else "a non-empty 1-D vector"
        )
        raise InvalidInput(f"current counts must be {what}, got shape {cur.shape}")
    if ref.ndim != 1 and not (many and ref.ndim == 2 and ref.shape[0] == cur.shape[0]):
        paired = f" or a matrix with {cur.shape[0]} rows like current" if many else ""
        raise InvalidInput(
            f"reference counts must be a 1-D vector{paired}, got shape {ref.shape}; "
            "pass one count per bin"
        )
    if ref.shape[-1] != cur.shape[-1]:
        raise InvalidInput(
            f"current counts have {cur.shape[-1]} bins but reference counts have "
            f"{ref.shape[-1]}; bin both on the reference's edges or categories"
        )
    for label, arr in (("reference", ref), ("current", cur)):
        _check_entries(arr, label)
        empty = np.flatnonzero(arr.reshape(-1, arr.shape[-1]).sum(axis=1) <= 0)
        if empty.size:
            where = f" (row {int(empty[0])})" if arr.ndim == 2 else ""
            raise InvalidInput(
                f"{label} counts are all zero{where}: an empty histogram has no "
                "distribution; skip empty windows or wait until they have rows"
            )
    return ref, cur


def proportions(counts: FloatArray) -> FloatArray:
    """Return each row of a count matrix divided by its total.

    Example:
        >>> proportions(np.array([[1.0, 3.0]])).tolist()
        [[0.25, 0.75]]
    """
    return np.asarray(counts / counts.sum(axis=-1, keepdims=True), dtype=np.float64)


def _as_float(values: npt.ArrayLike, label: str) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{label} must be numbers: {exc}") from None


def _check_entries(arr: FloatArray, label: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        index = np.unravel_index(int(np.flatnonzero(bad)[0]), arr.shape)
        raise InvalidInput(
            f"{label} counts must be finite; entry {_index(index)} is {float(arr[index])!r}"
        )
    if (arr < 0).any():
        index = np.unravel_index(int(np.flatnonzero(arr < 0)[0]), arr.shape)
        raise InvalidInput(
            f"{label} counts must be non-negative; entry {_index(index)} is {float(arr[index])!r} "
            "(pass histogram counts, not differences)"
        )


def _index(index: tuple[Any, ...]) -> str:
    parts = [int(i) for i in index]
    return str(parts[0]) if len(parts) == 1 else str(tuple(parts))


def validate_scale(scale: float | None, statistic: str) -> float:
    """Return ``scale`` as a positive finite float.

    Raises:
        InvalidInput: If it is missing, not a number, not finite or not positive.

    Example:
        >>> validate_scale(2, "wasserstein")
        2.0
    """
    if scale is None:
        raise InvalidInput(f"{statistic} needs scale=, the reference's standard deviation; pass it")
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise InvalidInput(f"{statistic}: scale must be a number, got {scale!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise InvalidInput(
            f"{statistic}: scale must be a positive finite number, got {value!r}; "
            "a constant reference column has no spread: compare it with psi or "
            "jensen_shannon instead"
        )
    return value


def bin_positions(
    edges: npt.ArrayLike, n_bins: int, *, open_width: float | None = None
) -> FloatArray:
    """Return one position per bin: its centre, with a rule for open-ended bins.

    Edges are strictly increasing; only the first may be ``-inf`` and only the last
    ``+inf``. A finite bin sits at its centre. An open outer bin sits half a bin width
    beyond its finite edge, the width being that of its finite neighbour (as if the
    open bin were as wide as the next one in). When no neighbour is finite (two or
    fewer bins), ``open_width`` is used instead (Wasserstein passes the reference
    standard deviation). Callers who know a column's minimum and maximum may pass
    them instead of the infinities; the outer bins then sit at their centres.

    Args:
        edges: ``n_bins + 1`` edges.
        n_bins: The number of bins (counts) the edges must match.
        open_width: Width assumed for an open bin without a finite neighbour.

    Returns:
        ``n_bins`` increasing positions.

    Raises:
        InvalidInput: If the edges are malformed or an open bin cannot be placed.

    Example:
        >>> bin_positions([float("-inf"), 0.0, 1.0, 3.0, float("inf")], 4).tolist()
        [-0.5, 0.5, 2.0, 4.0]
    """
    e = _as_float(edges, "edges")
    if e.ndim != 1 or e.size != n_bins + 1:
        raise InvalidInput(
            f"edges must be a 1-D vector of len(counts) + 1 = {n_bins + 1} values, "
            f"got shape {e.shape}"
        )
    if np.isnan(e).any() or np.isposinf(e[:-1]).any() or np.isneginf(e[1:]).any():
        raise InvalidInput("edges must be numbers, with -inf allowed only first and +inf only last")
    if e.size > 1 and not (np.diff(e[np.isfinite(e)]) > 0).all():
        raise InvalidInput("edges must be strictly increasing; drop repeated edges")
    lo, hi = e[:-1], e[1:]
    finite = np.isfinite(lo) & np.isfinite(hi)
    with np.errstate(invalid="ignore"):
        pos = np.where(finite, (lo + hi) / 2.0, 0.0)
    if not finite[0]:
        pos[0] = _open_position(e, 0, finite, open_width)
    if n_bins > 1 and not finite[-1]:
        pos[-1] = _open_position(e, n_bins - 1, finite, open_width)
    return pos


def _open_position(
    e: FloatArray, i: int, finite: npt.NDArray[np.bool_], width: float | None
) -> float:
    first = i == 0
    edge = e[1] if first else e[-2]
    if not np.isfinite(edge):  # a single bin (-inf, +inf): no position is meaningful
        return 0.0
    j = 1 if first else i - 1
    if 0 <= j < finite.size and finite[j] and j != i:
        width = float(e[j + 1] - e[j])
    if width is None:
        raise InvalidInput(
            "an open outer bin has no finite neighbour to take its width from; "
            "pass finite outer edges (the column's min and max)"
        )
    return float(edge - width / 2.0) if first else float(edge + width / 2.0)
