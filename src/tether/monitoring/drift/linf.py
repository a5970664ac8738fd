"""L-infinity distance between category frequencies.

``max_i |p_i - q_i|``: the largest change in any one category's share, in
proportion points (0.1 means some category gained or lost 10 points). Symmetric; in
``[0, 1]``. Easy to explain in an alert: it names how far the most-moved category
moved.

Example:
    >>> round(LInfinity().compute([50, 30, 20], [40, 40, 20]).value, 12)
    0.1
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tether.monitoring.drift._base import DriftStatistic, FloatArray, proportions

__all__ = ["LInfinity"]


class LInfinity(DriftStatistic):
    """L-infinity distance between two category frequency vectors.

    Example:
        >>> LInfinity().compute([1, 1], [1, 3]).value
        0.25
    """

    name = "linf"
    kind = "categorical"

    def _values(
        self,
        reference: FloatArray,
        currents: FloatArray,
        edges: npt.ArrayLike | None,
        scale: float | None,
    ) -> tuple[FloatArray, FloatArray | None]:
        p = proportions(reference)
        q = proportions(currents)
        return np.max(np.abs(q - p), axis=1), None
