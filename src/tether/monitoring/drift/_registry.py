"""The registry of drift statistics and the default set per column kind.

Defaults, and why:

* numeric: ``wasserstein`` and ``psi``. Normalised Wasserstein measures *how far* the
  distribution moved, in reference standard deviations, so a location or scale shift
  reads the same on every column; PSI measures *shape* change bin by bin, including
  mass appearing in the open outer bins, and is the figure risk teams know. KS is
  available (and reports a p-value) but is left out: its statistic is another CDF
  distance that mostly repeats Wasserstein, and every extra statistic in a feature's
  any-of rule adds false alarms.
* categorical: ``jensen_shannon``, ``chi_square`` and ``linf``. Jensen-Shannon is a
  bounded, symmetric magnitude that needs no epsilon for unseen categories;
  chi-square is the two-sample test with the right no-drift behaviour (and a p-value
  to report); L-infinity says how many points the most-moved category moved, which
  is what an alert should name.

A feature is drifted when *any* of its statistics exceeds its threshold; the
thresholds are calibrated on the reference (``calibrate``) so the any-of rule keeps
the false-alarm rate low (measured in the tests: well under 5 % of features).

Example:
    >>> defaults_for("categorical")
    ['jensen_shannon', 'chi_square', 'linf']
"""

from __future__ import annotations

import difflib
from typing import Any

from tether.errors import InvalidInput
from tether.monitoring.drift._base import DriftStatistic
from tether.monitoring.drift.chi_square import ChiSquare
from tether.monitoring.drift.hellinger import Hellinger
from tether.monitoring.drift.jensen_shannon import JensenShannon
from tether.monitoring.drift.ks import KolmogorovSmirnov
from tether.monitoring.drift.linf import LInfinity
from tether.monitoring.drift.psi import PSI
from tether.monitoring.drift.wasserstein import Wasserstein

__all__ = ["DEFAULTS", "STATISTICS", "defaults_for", "get_statistic"]

STATISTICS: dict[str, type[DriftStatistic]] = {
    cls.name: cls
    for cls in (ChiSquare, Hellinger, JensenShannon, KolmogorovSmirnov, LInfinity, PSI, Wasserstein)
}

DEFAULTS: dict[str, tuple[str, ...]] = {
    "numeric": ("wasserstein", "psi"),
    "categorical": ("jensen_shannon", "chi_square", "linf"),
}


def defaults_for(kind: str) -> list[str]:
    """Return the names of the default statistics for a ``"numeric"`` or
    ``"categorical"`` column (see the module docstring for why these).

    Raises:
        InvalidInput: If ``kind`` is neither.

    Example:
        >>> defaults_for("numeric")
        ['wasserstein', 'psi']
    """
    if kind not in DEFAULTS:
        raise InvalidInput(
            f"no default drift statistics for column kind {kind!r}; use 'numeric' or 'categorical'"
        )
    return list(DEFAULTS[kind])


def get_statistic(name: str, **params: Any) -> DriftStatistic:
    """Return a new statistic by registry name, with keyword parameters.

    Raises:
        InvalidInput: If no statistic has that name (the message suggests the closest).

    Example:
        >>> get_statistic("psi", epsilon=1e-3)
        PSI(epsilon=0.001)
    """
    cls = STATISTICS.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, STATISTICS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"use one of {sorted(STATISTICS)}"
        raise InvalidInput(f"unknown drift statistic {name!r}; {hint}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise InvalidInput(f"drift statistic {name!r}: {exc}") from None
