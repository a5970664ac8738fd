"""Hellinger distance.

``H = sqrt(sum_i (sqrt(p_i) - sqrt(q_i))^2 / 2)``, equivalently
``sqrt(1 - sum_i sqrt(p_i q_i))``; it lies in ``[0, 1]``, is symmetric, is a metric and
needs no epsilon. The first form is computed: it has no cancellation near zero.

Example:
    >>> Hellinger().compute([1, 0], [0, 1]).value
    1.0
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tether.monitoring.drift._base import DriftStatistic, FloatArray, proportions

__all__ = ["Hellinger"]


class Hellinger(DriftStatistic):
    """Hellinger distance between binned distributions.

    Example:
        >>> round(Hellinger().compute([50, 50], [60, 40]).value, 6)
        0.071161
    """

    name = "hellinger"
    kind = "both"

    def _values(
        self,
        reference: FloatArray,
        currents: FloatArray,
        edges: npt.ArrayLike | None,
        scale: float | None,
    ) -> tuple[FloatArray, FloatArray | None]:
        p = np.sqrt(proportions(reference))
        q = np.sqrt(proportions(currents))
        return np.sqrt(np.sum((p - q) ** 2, axis=1) / 2.0), None
