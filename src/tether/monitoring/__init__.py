"""Monitoring: profiles, drift, data quality, performance, anomalies."""

from __future__ import annotations

from tether.monitoring._anomaly import AnomalyDetector, AnomalyReport
from tether.monitoring._baseline import Baseline, DriftReport, FeatureDrift, StatCheck
from tether.monitoring._behaviour import BehaviourMonitor
from tether.monitoring._cbpe import CBPE, Estimate
from tether.monitoring._feedback import Feedback, FeedbackResult, WindowMetrics
from tether.monitoring._profile import (
    OTHER,
    CategoricalColumn,
    NumericColumn,
    Profile,
    columns_of,
)
from tether.monitoring._quality import QualityIssue, check_quality
from tether.monitoring._report import html_report
from tether.monitoring._signals import (
    LogSink,
    Signal,
    Signals,
    Sink,
    WebhookSink,
    verify_signature,
)
from tether.monitoring._watch import Monitor, StoredBaseline, WatchReport, Window, batch_windows

__all__ = [
    "CBPE",
    "OTHER",
    "AnomalyDetector",
    "AnomalyReport",
    "Baseline",
    "BehaviourMonitor",
    "CategoricalColumn",
    "DriftReport",
    "Estimate",
    "FeatureDrift",
    "Feedback",
    "FeedbackResult",
    "LogSink",
    "Monitor",
    "NumericColumn",
    "Profile",
    "QualityIssue",
    "Signal",
    "Signals",
    "Sink",
    "StatCheck",
    "StoredBaseline",
    "WatchReport",
    "WebhookSink",
    "Window",
    "WindowMetrics",
    "batch_windows",
    "check_quality",
    "columns_of",
    "html_report",
    "verify_signature",
]
