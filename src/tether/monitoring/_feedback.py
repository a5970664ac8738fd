"""Delayed labels: ground truth joined to recorded decisions whenever it arrives.

``tether.feedback.add(decision_id, label)`` (or ``add_many``) joins each label to its
decision once: a label for an already-labelled decision is a duplicate and is kept
out; a label for an id that is no decision is reported, never dropped silently. Each
call that joins anything is one ``feedback`` ledger entry. ``performance(system)``
computes per-window metrics from the predictions kept with model decisions, and the
error stream of each system is watched by River's ADWIN as labels arrive: a rise
raises a ``performance`` signal (state per process).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tether.errors import InvalidInput
from tether.monitoring._signals import Signal
from tether.store import decision_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = ["Feedback", "FeedbackResult", "WindowMetrics"]


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """What happened to a call's labels."""

    joined: tuple[str, ...]
    duplicates: tuple[str, ...]  # already labelled: the first label stands
    unknown: tuple[str, ...]  # no such decision
    ledger_index: int | None = None


@dataclass(frozen=True, slots=True)
class WindowMetrics:
    """Metrics of one window of labelled decisions."""

    start: float
    end: float
    n: int
    metrics: dict[str, float] = field(default_factory=dict)


class Feedback:
    """Join labels to decisions and measure performance (``tether.feedback``).

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> t.feedback.add("dec_unknown", 1, actor="svc:labels").unknown
        ('dec_unknown',)
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self.threshold = 0.5  # a score at or above it predicts the positive class
        self._adwin: dict[str, Any] = {}  # system -> river ADWIN over the error stream
        self._lock = threading.Lock()

    def add(self, decision_id: str, label: Any, *, actor: str) -> FeedbackResult:
        """Join one label (see :meth:`add_many`)."""
        return self.add_many([(decision_id, label)], actor=actor)

    def add_many(self, labels: Iterable[tuple[str, Any]], *, actor: str) -> FeedbackResult:
        """Join labels, in any order, whenever they arrive.

        Raises:
            InvalidInput: a decision id is not a string, or a label is not JSON.
        """
        pairs = list(labels)
        for decision_id, _ in pairs:
            if not isinstance(decision_id, str) or not decision_id:
                raise InvalidInput(f"decision id {decision_id!r} must be a non-empty string")
        seen: dict[str, Any] = {}
        repeated: list[str] = []
        for decision_id, label in pairs:
            if decision_id in seen:
                repeated.append(decision_id)  # twice in one call: the first stands
            else:
                seen[decision_id] = label
        with self._t.store.read() as conn:
            known, done = repo.known(conn, list(seen))
        joined = [(d, v) for d, v in seen.items() if d in known and d not in done]
        unknown = tuple(d for d in seen if d not in known)
        duplicates = tuple(repeated) + tuple(d for d in seen if d in done)
        index = None
        if joined:
            now = self._t.clock.now().timestamp()
            entry = self._t.ledger.append(
                "feedback", actor,
                {"labels": [{"decision": d, "label": v} for d, v in joined],
                 "unknown": list(unknown)},
                mutation=repo.add_labels(joined, now),
            )  # fmt: skip
            index = entry.index
            self._watch(joined)
        return FeedbackResult(tuple(d for d, _ in joined), duplicates, unknown, index)

    def _watch(self, joined: Sequence[tuple[str, Any]]) -> None:
        """Feed each joined label's error (in decision order) to its system's ADWIN;
        a detected change raises a ``performance`` signal."""
        from river.drift import ADWIN

        labels = dict(joined)
        with self._t.store.read() as conn:
            rows = repo.for_ids(conn, list(labels))
        for decision_id, system, _, output in rows:
            if output is None:
                continue
            try:
                error = _error(output, labels[decision_id], self.threshold)
            except InvalidInput:
                continue
            with self._lock:
                adwin = self._adwin.setdefault(system, ADWIN())  # type: ignore[no-untyped-call]
                before = adwin.estimation
                adwin.update(error)
                changed, after = adwin.drift_detected, adwin.estimation
            if changed and after > before:
                grade = "high" if after >= 2 * max(before, 1e-9) else "medium"
                self._t.signals.emit(Signal(
                    "performance", system, grade, "adwin_error_rate", float(after),  # type: ignore[arg-type]
                    float(before), detail=f"error rate {before:.3f} -> {after:.3f} (ADWIN)",
                ))  # fmt: skip

    def performance(
        self,
        system: str,
        *,
        task: Literal["classification", "regression"] = "classification",
        window: float = 86_400.0,
        since: datetime | None = None,
        threshold: float = 0.5,
    ) -> list[WindowMetrics]:
        """Per-window metrics of a model system's labelled decisions (windows of
        ``window`` seconds by decision time). Classification: accuracy, precision,
        recall, F1, and ROC AUC when predictions are scores; regression: MAE, RMSE.
        """
        start = since.timestamp() if since is not None else None
        with self._t.store.read() as conn:
            rows = repo.labelled(conn, system, start, None)
        rows = [r for r in rows if r[2] is not None]
        if not rows:
            return []
        times = np.asarray([r[1] for r in rows])
        first = times[0] if start is None else start
        slots = ((times - first) // window).astype(int)
        out = []
        for slot in np.unique(slots):
            part = [rows[i] for i in np.flatnonzero(slots == slot)]
            predictions = np.asarray([_number(r[2]) for r in part], dtype=float)
            labels = np.asarray([_number(r[3]) for r in part], dtype=float)
            metrics = (
                classification_metrics(labels, predictions, threshold)
                if task == "classification"
                else regression_metrics(labels, predictions)
            )
            lo = first + slot * window
            out.append(WindowMetrics(float(lo), float(lo + window), len(part), metrics))
        return out


def _error(prediction: Any, label: Any, threshold: float) -> float:
    """0/1 for a classification (a score or predict_proba row), the absolute error for
    a regression (a label that is not 0/1)."""
    p, y = _number(prediction), _number(label)
    if y in (0.0, 1.0):
        return float((p >= threshold) != (y >= 0.5))
    return abs(p - y)


def _number(value: Any) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, Sequence) and value and isinstance(value[-1], int | float):
        return float(value[-1])  # predict_proba rows: the positive class's score
    raise InvalidInput(f"cannot measure a prediction or label {value!r}: use numbers")


def classification_metrics(
    labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (and ROC AUC when ``scores`` are not all 0/1)."""
    y = labels >= 0.5
    p = scores >= threshold
    tp, fp = float(np.sum(p & y)), float(np.sum(p & ~y))
    fn, tn = float(np.sum(~p & y)), float(np.sum(~p & ~y))
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else math.nan
    recall = tp / (tp + fn) if tp + fn else math.nan
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else math.nan
    out = {"accuracy": (tp + tn) / n if n else math.nan, "precision": precision,
           "recall": recall, "f1": f1}  # fmt: skip
    if not np.all(np.isin(scores, (0.0, 1.0))):
        out["roc_auc"] = roc_auc(y, scores)
    return out


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties averaged."""
    from scipy.stats import rankdata

    pos, neg = int(np.sum(y)), int(np.sum(~y))
    if pos == 0 or neg == 0:
        return math.nan
    ranks = rankdata(scores)
    return float((np.sum(ranks[y]) - pos * (pos + 1) / 2) / (pos * neg))


def regression_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """MAE and RMSE."""
    err = predictions - labels
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err * err)))}
