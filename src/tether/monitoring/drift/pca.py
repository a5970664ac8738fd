"""Multivariate drift: PCA reconstruction error, calibrated on reference chunks.

Univariate statistics miss drift in how columns move *together*: a window whose
columns keep their marginal distributions but lose their correlations. Fit a PCA on
the standardised reference keeping ``variance`` of its variance (default 0.65);
each row's reconstruction error is the Euclidean distance between the row and its
projection back from the kept components. Under no drift a window's mean error stays
near the reference's; when the correlation structure changes, it rises.

The threshold is calibrated like the univariate ones: the reference rows are cut
into consecutive chunks (``chunk_size_for``: the window's size when the reference
holds ``min_chunks`` of them), each chunk's mean error is computed, and the alert
level is ``mean + k * std`` with the chunks' standard deviation carried to the
window's size (``std * sqrt(chunk / window)``: the standard error of a mean of
independent rows). Errors are measured on the rows the PCA was fitted on, which
makes them slightly optimistic by about ``components / rows``: negligible when the
reference has many more rows than columns.

Numpy only (an SVD); rows must be numeric and finite (impute or drop missing values
first).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(5_000, 1))
    >>> x = np.hstack([f, f, f]) + 0.1 * rng.normal(size=(5_000, 3))
    >>> detector = PCADrift(window_size=500).fit(x)
    >>> detector.is_drift(x[:500]), detector.is_drift(rng.permuted(x[:500], axis=0))
    (False, True)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from tether.errors import InvalidInput
from tether.monitoring.drift._base import FloatArray, StatResult
from tether.monitoring.drift._calibrate import Threshold, chunk_size_for

__all__ = ["PCADrift"]


class PCADrift:
    """Multivariate drift detector by PCA reconstruction error.

    Follows the estimator contract: ``__init__`` stores its keyword parameters,
    ``fit`` learns ``mean_``, ``scale_``, ``components_``, ``n_components_``,
    ``n_features_in_`` and ``threshold_``.

    Args:
        variance: Share of the standardised reference's variance the kept components
            explain (``0 < variance < 1``; at least one component is dropped).
        k: Alert beyond ``mean + k * std`` of the reference chunks' mean errors.
        window_size: Rows per monitored window; default: the reference's rows divided
            by ``min_chunks``.
        min_chunks: The fewest chunks to calibrate on.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(1).normal(size=(2_000, 4))
        >>> d = PCADrift(variance=0.5).fit(x)
        >>> d.n_components_, d.threshold_.n_chunks
        (2, 30)
    """

    name = "pca_reconstruction"

    mean_: FloatArray
    scale_: FloatArray
    components_: FloatArray
    n_components_: int
    n_features_in_: int
    threshold_: Threshold

    def __init__(
        self,
        *,
        variance: float = 0.65,
        k: float = 3.0,
        window_size: int | None = None,
        min_chunks: int = 30,
    ) -> None:
        self.variance = variance
        self.k = k
        self.window_size = window_size
        self.min_chunks = min_chunks

    def fit(self, reference: npt.ArrayLike) -> PCADrift:
        """Fit the PCA on the reference rows and calibrate the threshold.

        Args:
            reference: A matrix, one row per reference row, one column per feature,
                in the reference's row order (chunks are consecutive rows).

        Returns:
            The fitted detector.

        Raises:
            InvalidInput: If the parameters are invalid, the matrix is not numeric
                and finite, has fewer than two columns, too few rows for
                ``min_chunks`` chunks, or every column is constant.
        """
        if not isinstance(self.variance, int | float) or not 0 < self.variance < 1:
            raise InvalidInput(f"variance must be in (0, 1), got {self.variance!r}")
        if not isinstance(self.k, int | float) or not self.k >= 0 or math.isinf(self.k):
            raise InvalidInput(f"k must be a non-negative finite number, got {self.k!r}")
        x = _matrix(reference, "reference")
        n, d = x.shape
        if d < 2:
            raise InvalidInput(
                f"PCA drift needs at least 2 numeric columns, got {d}; "
                "use the univariate statistics for one column"
            )
        window = self.window_size if self.window_size is not None else n // self.min_chunks
        chunk = chunk_size_for(n, max(int(window), 1), min_chunks=self.min_chunks)
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale == 0] = 1.0  # a constant column centres to zero and adds no error
        z = (x - mean) / scale
        _, s, vt = np.linalg.svd(z, full_matrices=False)
        power = s**2
        if power.sum() <= 0:
            raise InvalidInput("every reference column is constant; PCA drift needs variation")
        explained = np.cumsum(power) / power.sum()
        kept = min(int(np.searchsorted(explained, self.variance)) + 1, d - 1)
        self.mean_, self.scale_ = mean, scale
        self.components_ = vt[:kept]
        self.n_components_, self.n_features_in_ = kept, d
        errors = self._errors(z)
        n_chunks = n // chunk
        means = errors[: n_chunks * chunk].reshape(n_chunks, chunk).mean(axis=1)
        mu = float(means.mean())
        sigma = float(means.std(ddof=1)) * math.sqrt(chunk / max(int(window), 1))
        self.threshold_ = Threshold(
            self.name, mu, sigma, mu + float(self.k) * sigma, float(self.k), n_chunks,
            "calibrated", self.window_size,
        )  # fmt: skip
        return self

    def errors(self, rows: npt.ArrayLike) -> FloatArray:
        """Return each row's reconstruction error (in standardised units).

        Raises:
            InvalidInput: If the detector is not fitted or the rows do not match.
        """
        self._check_fitted()
        x = _matrix(rows, "rows")
        if x.shape[1] != self.n_features_in_:
            raise InvalidInput(
                f"rows have {x.shape[1]} columns but the detector was fitted on "
                f"{self.n_features_in_}; pass the same columns in the same order"
            )
        return self._errors((x - self.mean_) / self.scale_)

    def score(self, window: npt.ArrayLike) -> StatResult:
        """Return the window's mean reconstruction error.

        Raises:
            InvalidInput: As for :meth:`errors`.
        """
        return StatResult(self.name, float(self.errors(window).mean()))

    def is_drift(self, window: npt.ArrayLike) -> bool:
        """Return whether the window's mean error exceeds the calibrated threshold.

        Raises:
            InvalidInput: As for :meth:`errors`.
        """
        return self.threshold_.exceeded(self.score(window).value)

    def _errors(self, z: FloatArray) -> FloatArray:
        residual = z - (z @ self.components_.T) @ self.components_
        return np.asarray(np.sqrt(np.sum(residual**2, axis=1)), dtype=np.float64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise InvalidInput("this PCADrift is not fitted; call fit(reference) first")

    def __repr__(self) -> str:
        return (
            f"PCADrift(variance={self.variance!r}, k={self.k!r}, "
            f"window_size={self.window_size!r}, min_chunks={self.min_chunks!r})"
        )


def _matrix(values: npt.ArrayLike, label: str) -> FloatArray:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{label} must be a numeric matrix: {exc}") from None
    if x.ndim != 2 or x.shape[0] < 1:
        raise InvalidInput(f"{label} must be a 2-D matrix with rows, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInput(
            f"{label} contain NaN or infinite values; impute or drop missing values first"
        )
    return x
