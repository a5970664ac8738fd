"""Performance estimated without labels: confidence-based performance estimation.

For a binary classifier whose scores are calibrated probabilities, the expected
confusion matrix of a window follows from the scores alone: a prediction with
probability ``p`` of the positive class is a true positive with probability ``p`` if
predicted positive, a false positive with ``1 - p``, and so on. CBPE (as published by
NannyML) first calibrates the model's scores on labelled reference data (isotonic
regression), then estimates accuracy, F1 and ROC AUC per window, and alerts when an
estimate falls below the reference's mean - k standard deviations over reference
chunks. Its sampling
error is the reference chunks' standard deviation scaled to the window size.

It sees degradation that shows in the scores (inputs moving to where the model is
unsure); it cannot see a changed relationship between inputs and labels (concept
drift) — labels, when they come, catch that (``Feedback``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

from tether.errors import InvalidInput

__all__ = ["CBPE", "Estimate"]

METRICS = ("accuracy", "f1", "roc_auc")


@dataclass(frozen=True, slots=True)
class Estimate:
    """Estimated metrics of one window, with their sampling error and alerts."""

    n: int
    metrics: dict[str, float]
    sampling_error: dict[str, float]
    lower_bounds: dict[str, float]

    @property
    def alerts(self) -> tuple[str, ...]:
        """The metrics estimated below their lower bound."""
        return tuple(m for m, v in self.metrics.items() if v < self.lower_bounds[m])


class CBPE:
    """Confidence-based performance estimation for a binary classifier.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> scores = rng.beta(0.5, 0.5, 20_000)
        >>> labels = rng.random(20_000) < scores          # calibrated by construction
        >>> cbpe = CBPE(chunk_size=2_000).fit(scores, labels)
        >>> est = cbpe.estimate(rng.beta(0.5, 0.5, 2_000))
        >>> round(est.metrics["accuracy"], 1), est.alerts
        (0.8, ())
    """

    def __init__(self, *, threshold: float = 0.5, chunk_size: int = 5_000, k: float = 3.0) -> None:
        self.threshold = threshold
        self.chunk_size = chunk_size
        self.k = k

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> CBPE:
        """Calibrate on labelled reference data and set the alert bounds.

        Raises:
            InvalidInput: lengths differ, too few rows for two chunks, or one class only.
        """
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(labels).astype(bool)
        if s.shape != y.shape or s.ndim != 1:
            raise InvalidInput("scores and labels must be 1-D arrays of the same length")
        if s.size < 2 * self.chunk_size:
            raise InvalidInput(
                f"CBPE needs at least two reference chunks of {self.chunk_size:,} rows; got "
                f"{s.size:,} (lower chunk_size)"
            )
        if y.all() or not y.any():
            raise InvalidInput("the reference labels hold one class only")
        order = np.argsort(s, kind="stable")
        self.x_ = s[order]
        self.y_ = isotonic_regression(y[order].astype(np.float64)).x
        chunks = [slice(i, i + self.chunk_size) for i in range(0, s.size - self.chunk_size + 1,
                                                              self.chunk_size)]  # fmt: skip
        realised = {m: [] for m in METRICS}  # type: dict[str, list[float]]
        for c in chunks:
            for m, v in _realised(s[c], y[c], self.threshold).items():
                realised[m].append(v)
        self.mean_ = {m: float(np.mean(v)) for m, v in realised.items()}
        self.std_ = {m: float(np.std(v, ddof=1)) for m, v in realised.items()}
        return self

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        """The calibrated probability of each score."""
        if not hasattr(self, "x_"):
            raise InvalidInput("CBPE is not fitted: call fit(reference_scores, labels) first")
        out: np.ndarray = np.interp(np.asarray(scores, dtype=np.float64), self.x_, self.y_)
        return out

    def estimate(self, scores: np.ndarray) -> Estimate:
        """Estimate the metrics of a window of scores (no labels needed)."""
        p = self.calibrated(scores)
        if p.size == 0:
            raise InvalidInput("an empty window has no performance to estimate")
        predicted = np.asarray(scores, dtype=np.float64) >= self.threshold
        tp = float(p[predicted].sum())
        fp = float((1 - p[predicted]).sum())
        fn = float(p[~predicted].sum())
        tn = float((1 - p[~predicted]).sum())
        metrics = {
            "accuracy": (tp + tn) / p.size,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan,
            "roc_auc": _expected_auc(np.asarray(scores, dtype=np.float64), p),
        }
        scale = math.sqrt(self.chunk_size / p.size)
        error = {m: self.std_[m] * scale for m in METRICS}
        bounds = {m: self.mean_[m] - self.k * error[m] for m in METRICS}
        return Estimate(int(p.size), metrics, error, bounds)


def _realised(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    from tether.monitoring._feedback import roc_auc

    predicted = scores >= threshold
    tp = float(np.sum(predicted & labels))
    fp = float(np.sum(predicted & ~labels))
    fn = float(np.sum(~predicted & labels))
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan,
        "roc_auc": roc_auc(labels, scores),
    }


def _expected_auc(scores: np.ndarray, p: np.ndarray) -> float:
    """Expected ROC AUC: the area under the curve of expected TPR against expected FPR
    over every threshold (scores in descending order)."""
    order = np.argsort(-scores, kind="stable")
    pos = np.concatenate(([0.0], np.cumsum(p[order])))
    neg = np.concatenate(([0.0], np.cumsum(1 - p[order])))
    if pos[-1] <= 0 or neg[-1] <= 0:
        return math.nan
    tpr, fpr = pos / pos[-1], neg / neg[-1]
    return float(np.trapezoid(tpr, fpr))
