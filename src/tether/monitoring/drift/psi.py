"""Population Stability Index (PSI).

``PSI = sum_i (q_i - p_i) * ln(q_i / p_i)`` over the bins, where ``p`` and ``q`` are
the reference and current proportions. Empty bins would make the logarithm infinite,
so every proportion is floored at ``epsilon`` (default ``1e-4``, the common
convention): one bin that empties or appears then adds at most about
``p * ln(p / epsilon)`` (0.92 for a bin holding 10 %). The formula is symmetric in
``p`` and ``q`` and each term is non-negative.

Rules of thumb read PSI < 0.1 as stable and > 0.25 as a major shift; tether calibrates
its threshold on the reference instead (see ``calibrate``).

Example:
    >>> round(PSI().compute([25, 25, 25, 25], [10, 20, 30, 40]).value, 4)
    0.2282
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tether.errors import InvalidInput
from tether.monitoring.drift._base import DriftStatistic, FloatArray, proportions

__all__ = ["PSI"]


class PSI(DriftStatistic):
    """Population Stability Index between binned distributions.

    Args:
        epsilon: Floor on every bin's proportion, so empty bins stay finite
            (``0 < epsilon < 1``).

    Example:
        >>> PSI(epsilon=1e-4).compute([5, 5], [5, 5])
        StatResult(statistic='psi', value=0.0, p_value=None)
    """

    name = "psi"
    kind = "both"
    # PSI ~ sum (q - p)^2 / p to second order: linear in the variance factor.
    noise_power = 1.0

    def __init__(self, *, epsilon: float = 1e-4) -> None:
        self.epsilon = epsilon

    def _values(
        self,
        reference: FloatArray,
        currents: FloatArray,
        edges: npt.ArrayLike | None,
        scale: float | None,
    ) -> tuple[FloatArray, FloatArray | None]:
        eps = self.epsilon
        if not isinstance(eps, int | float) or not 0 < eps < 1:
            raise InvalidInput(f"psi: epsilon must be a number in (0, 1), got {eps!r}")
        p = np.maximum(proportions(reference), eps)
        q = np.maximum(proportions(currents), eps)
        values = np.sum((q - p) * np.log(q / p), axis=1)
        return values, None
