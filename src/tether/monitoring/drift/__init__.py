"""Drift statistics over binned counts, calibrated thresholds and dataset-level drift.

Every statistic compares a reference histogram with a current one over the same bins
(one file per statistic, a common base ``DriftStatistic``):

=================  ===========  ==============================================
name               kind         what it measures
=================  ===========  ==============================================
``psi``            both         Population Stability Index (epsilon-floored)
``jensen_shannon`` both         Jensen-Shannon distance, base 2, in [0, 1]
``wasserstein``    numeric      Wasserstein-1 in reference standard deviations
``hellinger``      both         Hellinger distance, in [0, 1]
``ks``             numeric      KS statistic at the edges (+ asymptotic p-value)
``chi_square``     both         two-sample chi-square (+ p-value)
``linf``           categorical  largest change of one category's share
=================  ===========  ==============================================

Thresholds are calibrated on the reference by default (``calibrate``: mean + k sigma
over reference chunks, k = 3), or fixed (``Threshold.fixed``); ``severity`` grades a
value; ``dataset_drift`` turns per-feature flags into a dataset verdict; ``PCADrift``
checks multivariate drift by PCA reconstruction error.

Example:
    >>> import numpy as np
    >>> ref, cur = np.array([30, 40, 30]), np.array([20, 40, 40])
    >>> [get_statistic(n).compute(ref, cur).statistic for n in defaults_for("categorical")]
    ['jensen_shannon', 'chi_square', 'linf']
"""

from __future__ import annotations

from tether.monitoring.drift._base import DriftStatistic, StatResult, bin_positions
from tether.monitoring.drift._calibrate import (
    SEVERITY_MULTIPLES,
    Severity,
    Threshold,
    calibrate,
    chunk_size_for,
    severity,
    split_counts,
)
from tether.monitoring.drift._dataset import DatasetDrift, dataset_drift
from tether.monitoring.drift._registry import DEFAULTS, STATISTICS, defaults_for, get_statistic
from tether.monitoring.drift.chi_square import ChiSquare
from tether.monitoring.drift.hellinger import Hellinger
from tether.monitoring.drift.jensen_shannon import JensenShannon
from tether.monitoring.drift.ks import KolmogorovSmirnov
from tether.monitoring.drift.linf import LInfinity
from tether.monitoring.drift.pca import PCADrift
from tether.monitoring.drift.psi import PSI
from tether.monitoring.drift.wasserstein import Wasserstein

__all__ = [
    "DEFAULTS",
    "PSI",
    "SEVERITY_MULTIPLES",
    "STATISTICS",
    "ChiSquare",
    "DatasetDrift",
    "DriftStatistic",
    "Hellinger",
    "JensenShannon",
    "KolmogorovSmirnov",
    "LInfinity",
    "PCADrift",
    "Severity",
    "StatResult",
    "Threshold",
    "Wasserstein",
    "bin_positions",
    "calibrate",
    "chunk_size_for",
    "dataset_drift",
    "defaults_for",
    "get_statistic",
    "severity",
    "split_counts",
]
