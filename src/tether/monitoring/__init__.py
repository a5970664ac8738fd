"""Monitoring: profiles, drift, data quality, performance, anomalies."""

from __future__ import annotations

from tether.monitoring._profile import (
    OTHER,
    CategoricalColumn,
    NumericColumn,
    Profile,
    columns_of,
)
from tether.monitoring._quality import QualityIssue, check_quality

__all__ = [
    "OTHER",
    "CategoricalColumn",
    "NumericColumn",
    "Profile",
    "QualityIssue",
    "check_quality",
    "columns_of",
]
