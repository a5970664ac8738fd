"""Anomalies: an isolation forest fitted on reference inputs scores each new input.

The forest is scikit-learn's ``IsolationForest``. Inputs are encoded against the
reference's :class:`~tether.monitoring.Profile`: numeric columns as floats (a missing
value takes the reference median), categorical columns as the rank of their category
in the reference (an unseen category and a missing value each get their own code). A
forest only splits within the values it was fitted on, so an unseen category scores
like the rarest reference category: unseen categories are a data-quality finding
(:func:`~tether.monitoring.check_quality`), not an anomaly.

The alarm threshold is **calibrated on the reference**: the score that ``rate``
(default 1 %) of reference rows exceed, measured on reference rows the forest was not
fitted on (when the reference has at least 1,000 more rows than the fitting sample).
A window is anomalous when more of its rows exceed it than a binomial(n, rate) count
would reach with probability ``alpha`` (default 0.001), so a window of normal inputs
rarely alarms whatever its size.

A detector is stored as JSON: its fitting sample (at most ``sample`` encoded rows,
float64, base64) and options; loading refits the forest from them with the same seed,
which scikit-learn makes deterministic.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from tether.errors import InvalidInput
from tether.monitoring._profile import (
    CategoricalColumn,
    NumericColumn,
    Profile,
    columns_of,
    is_missing,
)
from tether.monitoring._signals import Signal

__all__ = ["AnomalyDetector", "AnomalyReport"]

_FORMAT = 1


@dataclass(frozen=True, slots=True)
class AnomalyReport:
    """Anomalies in one window."""

    n: int
    anomalies: int  # rows scoring above the threshold
    rate: float
    expected: float  # the reference's rate (the calibration target)
    limit: int  # most anomalous rows a normal window of n rows shows (1 - alpha)
    threshold: float  # the score threshold
    severity: str  # none, low, medium, high
    top: tuple[tuple[int, float], ...]  # (row, score) of the most anomalous rows

    @property
    def flagged(self) -> bool:
        """More anomalous rows than a normal window would show."""
        return self.severity != "none"

    def signal(self, system: str, *, window: str = "", version: str | None = None) -> Signal | None:
        """The ``anomaly`` signal for this window, or None when it is normal."""
        if not self.flagged:
            return None
        return Signal(
            "anomaly", system, self.severity, "isolation_forest_rate", self.rate,  # type: ignore[arg-type]
            self.expected, window=window, version=version,
            detail=f"{self.anomalies} of {self.n} inputs anomalous ({self.rate:.1%}; "
            f"a normal window shows at most {self.limit})",
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "anomalies": self.anomalies, "rate": self.rate,
            "expected": self.expected, "limit": self.limit, "threshold": self.threshold,
            "severity": self.severity, "flagged": self.flagged,
            "top": [{"row": r, "score": s} for r, s in self.top],
        }  # fmt: skip


class AnomalyDetector:
    """An isolation forest over a reference's columns, with a calibrated threshold.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> ref = {"x": rng.normal(0, 1, 5_000), "c": rng.choice(["a", "b"], 5_000)}
        >>> det = AnomalyDetector.fit(ref)
        >>> normal = det.check({"x": rng.normal(0, 1, 500), "c": rng.choice(["a", "b"], 500)})
        >>> odd = det.check({"x": rng.normal(6, 1, 500), "c": rng.choice(["a", "b"], 500)})
        >>> normal.flagged, odd.flagged, odd.severity
        (False, True, 'high')
    """

    def __init__(
        self,
        profile: Profile,
        sample: np.ndarray,
        *,
        rate: float = 0.01,
        alpha: float = 0.001,
        trees: int = 100,
        seed: int = 0,
        threshold: float | None = None,
    ) -> None:
        from sklearn.ensemble import IsolationForest

        if not 0 < rate < 0.5:
            raise InvalidInput(f"rate must be between 0 and 0.5 (a share of rows); got {rate}")
        if not 0 < alpha < 0.5:
            raise InvalidInput(f"alpha must be between 0 and 0.5; got {alpha}")
        self.profile = profile
        self.features, self._medians = _layout(profile)
        self.sample = sample
        self.rate, self.alpha, self.trees, self.seed = rate, alpha, trees, seed
        self.forest = IsolationForest(n_estimators=trees, random_state=seed).fit(sample)
        self.threshold = self._calibrated(sample) if threshold is None else threshold

    def _calibrated(self, rows: np.ndarray) -> float:
        """The score that ``rate`` of these encoded rows exceed."""
        return float(np.quantile(self.score_encoded(rows), 1 - self.rate))

    @classmethod
    def fit(
        cls,
        data: Any,
        *,
        profile: Profile | None = None,
        rate: float = 0.01,
        alpha: float = 0.001,
        trees: int = 100,
        sample: int = 4_096,
        seed: int = 0,
        categorical: Iterable[str] = (),
    ) -> AnomalyDetector:
        """Fit on reference rows (a batch of columns). ``profile`` (the reference's,
        e.g. a baseline's) fixes the columns and categories; without it one is built.

        Raises:
            InvalidInput: fewer than 50 reference rows, or no usable column.
        """
        cols = {n: np.asarray(v) for n, v in columns_of(data).items()}
        rows = len(next(iter(cols.values()))) if cols else 0
        if rows < 50:
            raise InvalidInput(f"an anomaly detector needs at least 50 reference rows; got {rows}")
        profile = profile or Profile.build(cols, categorical=categorical)
        features, medians = _layout(profile)
        if not features:
            raise InvalidInput("no column of the reference has values to learn from")
        order = np.random.default_rng(seed).permutation(rows)
        fit_rows = order[: min(sample, rows)]
        # calibrate on rows the forest did not see when there are enough of them
        held_out = order[fit_rows.size : fit_rows.size + 50_000]
        calibration = held_out if held_out.size >= 1_000 else order
        fitted = _encode(profile, features, medians, {n: v[fit_rows] for n, v in cols.items()})
        detector = cls(
            profile, fitted, rate=rate, alpha=alpha, trees=trees, seed=seed, threshold=math.inf
        )  # calibrated just below (not on the fitting sample)
        rest = _encode(profile, features, medians, {n: v[calibration] for n, v in cols.items()})
        detector.threshold = detector._calibrated(rest)
        return detector

    def encode(self, data: Any) -> np.ndarray:
        """Rows as a float matrix, one column per reference feature (see the module
        doc). A feature missing from ``data`` is treated as missing in every row."""
        return _encode(self.profile, self.features, self._medians, data)

    def score_encoded(self, matrix: np.ndarray) -> np.ndarray:
        """Anomaly scores of encoded rows: higher is more anomalous (about 0.3-0.8)."""
        if matrix.shape[0] == 0:
            return np.zeros(0)
        return -np.asarray(self.forest.score_samples(matrix), dtype=np.float64)

    def score(self, data: Any) -> np.ndarray:
        """Anomaly score of each row of a batch (higher is more anomalous)."""
        return self.score_encoded(self.encode(data))

    def check(self, data: Any, *, top: int = 5) -> AnomalyReport:
        """Score a window and judge its anomaly count against the calibrated limit.

        Severity: ``none`` within the limit; beyond it ``low`` below twice the
        expected rate, ``medium`` below five times, ``high`` from five times.
        """
        from scipy.stats import binom

        scores = self.score(data)
        n = int(scores.size)
        if n == 0:
            return AnomalyReport(0, 0, 0.0, self.rate, 0, self.threshold, "none", ())
        flagged = scores > self.threshold
        count = int(flagged.sum())
        limit = int(binom.isf(self.alpha, n, self.rate))
        rate = count / n
        if count <= limit:
            severity = "none"
        elif rate < 2 * self.rate:
            severity = "low"
        elif rate < 5 * self.rate:
            severity = "medium"
        else:
            severity = "high"
        order = np.argsort(-scores, kind="stable")[:top]
        worst = tuple((int(i), float(scores[i])) for i in order)
        return AnomalyReport(n, count, rate, self.rate, limit, self.threshold, severity, worst)

    def to_json(self) -> bytes:
        """The detector as JSON (its reference profile, fitting sample and options)."""
        sample = np.ascontiguousarray(self.sample, dtype="<f8")
        return orjson.dumps({
            "format": _FORMAT, "profile": self.profile.to_dict(), "rate": self.rate,
            "alpha": self.alpha, "trees": self.trees, "seed": self.seed,
            "threshold": self.threshold, "shape": list(sample.shape),
            "sample": base64.b64encode(sample.tobytes()).decode(),
        })  # fmt: skip

    @classmethod
    def from_json(cls, data: bytes | str) -> AnomalyDetector:
        """Read :meth:`to_json` output (refits the same forest).

        Raises:
            InvalidInput: not an anomaly detector, or a newer format.
        """
        try:
            d = orjson.loads(data)
            if d.get("format", 0) > _FORMAT:
                raise InvalidInput(f"anomaly detector format {d['format']} is newer than this")
            raw = np.frombuffer(base64.b64decode(d["sample"]), dtype="<f8")
            sample = raw.reshape(tuple(d["shape"])).astype(np.float64)
            return cls(
                Profile.from_dict(d["profile"]), sample, rate=float(d["rate"]),
                alpha=float(d["alpha"]), trees=int(d["trees"]), seed=int(d["seed"]),
                threshold=float(d["threshold"]),
            )  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"not a tether anomaly detector: {exc}") from None


def _layout(profile: Profile) -> tuple[list[str], dict[str, float]]:
    """The features a forest uses (columns with values) and each numeric one's median."""
    features = [n for n, c in profile.columns.items()
                if c.count or isinstance(c, CategoricalColumn)]  # fmt: skip
    medians = {n: c.quantile(0.5) for n, c in profile.columns.items()
               if isinstance(c, NumericColumn) and c.count}  # fmt: skip
    return features, medians


def _encode(
    profile: Profile, features: list[str], medians: Mapping[str, float], data: Any
) -> np.ndarray:
    cols = {k: np.asarray(v) for k, v in columns_of(data).items()}
    rows = len(next(iter(cols.values()))) if cols else 0
    out = np.empty((rows, len(features)), dtype=np.float64)
    for j, name in enumerate(features):
        col, values = profile[name], cols.get(name)
        if isinstance(col, NumericColumn):
            fill = medians.get(name, 0.0)
            out[:, j] = fill if values is None else _floats(values, fill)
        else:
            out[:, j] = -1.0 if values is None else _codes(col, values)
    return out


def _floats(values: np.ndarray, fill: float) -> np.ndarray:
    if values.dtype.kind in "iufb":
        floats = values.astype(np.float64)
        floats[~np.isfinite(floats)] = fill
        return floats
    out = np.full(values.size, fill, dtype=np.float64)
    for i, v in enumerate(values.tolist()):
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue  # missing or a type error: the median
        if math.isfinite(f):
            out[i] = f
    return out


def _codes(col: CategoricalColumn, values: np.ndarray) -> np.ndarray:
    index = {c: float(i) for i, c in enumerate(col.categories)}
    unseen = float(len(col.categories))
    out = np.empty(values.size, dtype=np.float64)
    for i, v in enumerate(values.tolist()):
        if is_missing(v) or v == "":
            out[i] = -1.0
        else:
            out[i] = index.get(str(v), unseen)
    return out
