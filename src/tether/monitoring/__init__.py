"""Monitoring: profiles, drift, data quality, performance, anomalies."""

from __future__ import annotations

from tether.monitoring._profile import (
    OTHER,
    CategoricalColumn,
    NumericColumn,
    Profile,
    columns_of,
)

__all__ = ["OTHER", "CategoricalColumn", "NumericColumn", "Profile", "columns_of"]
