"""A baseline: a reference profile plus drift thresholds calibrated on the reference.

``Baseline.build(reference_data, window_size=...)`` profiles the reference and, for
each column, splits its rows into chunks of the window's size to calibrate every
default statistic (mean + k standard deviations, k = 3). ``baseline.check(window)``
profiles a window on the reference's bins and returns a :class:`DriftReport`: per
feature, each statistic with its threshold and severity; the dataset verdict;
data-quality findings; and the signals to emit.
"""

from __future__ import annotations

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
    _each,
    _strings,
    coded,
    columns_of,
    is_missing,
)
from tether.monitoring._quality import QualityIssue, check_quality
from tether.monitoring._signals import Signal
from tether.monitoring.drift import (
    DatasetDrift,
    Threshold,
    calibrate,
    chunk_size_for,
    dataset_drift,
    defaults_for,
    get_statistic,
    severity,
    split_counts,
)

__all__ = ["Baseline", "DriftReport", "FeatureDrift", "StatCheck"]

_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True, slots=True)
class StatCheck:
    """One statistic of one feature against its threshold."""

    statistic: str
    value: float
    threshold: float
    severity: str
    p_value: float | None = None


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """One feature's drift verdict."""

    feature: str
    kind: str
    checks: tuple[StatCheck, ...]
    drifted: bool
    severity: str

    @property
    def worst(self) -> StatCheck:
        """The check furthest beyond its threshold."""
        return max(self.checks, key=lambda c: c.value / c.threshold if c.threshold else 0.0)


@dataclass(frozen=True, slots=True)
class DriftReport:
    """What one window looks like against the baseline."""

    rows: int
    features: tuple[FeatureDrift, ...]
    dataset: DatasetDrift
    quality: tuple[QualityIssue, ...]

    def drifted(self) -> list[FeatureDrift]:
        """The features that drifted, worst first."""
        found = [f for f in self.features if f.drifted]
        return sorted(found, key=lambda f: -_RANK[f.severity])

    def signals(self, system: str, *, window: str = "", version: str | None = None) -> list[Signal]:
        """One drift signal per drifted feature (the worst statistic), ready to emit."""
        out = []
        for f in self.drifted():
            w = f.worst
            out.append(Signal(
                "drift", system, f.severity, w.statistic, w.value, w.threshold,  # type: ignore[arg-type]
                feature=f.feature, window=window, version=version,
                detail=f"{f.feature}: {w.statistic} {w.value:.4g} > {w.threshold:.4g}",
            ))  # fmt: skip
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rows": self.rows,
            "dataset": {"share_drifted": self.dataset.share_drifted,
                        "drifted": list(self.dataset.drifted), "is_drift": self.dataset.is_drift},
            "features": [
                {"feature": f.feature, "kind": f.kind, "drifted": f.drifted,
                 "severity": f.severity,
                 "checks": [{"statistic": c.statistic, "value": c.value,
                             "threshold": c.threshold, "severity": c.severity,
                             "p_value": c.p_value} for c in f.checks]}
                for f in self.features
            ],
            "quality": [{"column": q.column, "kind": q.kind, "value": q.value,
                         "reference": q.reference, "detail": q.detail} for q in self.quality],
        }  # fmt: skip


class Baseline:
    """A reference profile with calibrated drift thresholds.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> ref = {"x": rng.normal(0, 1, 20_000), "c": rng.choice(["a", "b", "c"], 20_000)}
        >>> base = Baseline.build(ref, window_size=2_000)
        >>> def window(shift):
        ...     return {"x": rng.normal(shift, 1, 2_000), "c": rng.choice(["a", "b", "c"], 2_000)}
        >>> quiet, moved = base.check(window(0.0)), base.check(window(0.5))
        >>> quiet.dataset.drifted, [f.feature for f in moved.drifted()]
        ((), ['x'])
    """

    def __init__(
        self, profile: Profile, thresholds: Mapping[str, Mapping[str, Threshold]], window_size: int
    ) -> None:
        self.profile = profile
        self.thresholds = {k: dict(v) for k, v in thresholds.items()}
        self.window_size = window_size

    @classmethod
    def build(
        cls,
        data: Any,
        *,
        window_size: int,
        k: float = 3.0,
        bins: int = 10,
        top_k: int = 20,
        categorical: Iterable[str] = (),
        statistics: Mapping[str, Iterable[str]] | None = None,
    ) -> Baseline:
        """Profile ``data`` and calibrate each column's statistics for windows of
        ``window_size`` rows (``statistics`` overrides the defaults per kind).

        Raises:
            InvalidInput: the data is not a batch, has too few rows to calibrate, or
                ``window_size`` is not positive.
        """
        if window_size < 1:
            raise InvalidInput("window_size must be a positive number of rows")
        cols = columns_of(data)  # convert a DataFrame or Table once
        profile = Profile.build(cols, bins=bins, top_k=top_k, categorical=categorical)
        if profile.rows < 60:
            raise InvalidInput(
                f"a baseline needs at least 60 reference rows to calibrate; got {profile.rows}"
            )
        chosen = {kind: list(v) for kind, v in (statistics or {}).items()}

        def calibrated(name: str) -> dict[str, Threshold] | None:
            col = profile.columns[name]
            indices = _bin_indices(col, cols[name])
            if indices.size < 2 or not col.count:
                return None
            chunks = split_counts(
                indices, chunk_size_for(indices.size, window_size), col.counts.size
            )
            edges, scale = _geometry(col)
            return {
                stat: calibrate(
                    stat, chunks, col.counts, k=k, edges=edges, scale=scale, window_size=window_size
                )
                for stat in chosen.get(col.kind, defaults_for(col.kind))
            }

        names = list(profile.columns)
        found = _each(calibrated, names, profile.rows)
        thresholds = {n: t for n, t in zip(names, found, strict=True) if t is not None}
        return cls(profile, thresholds, window_size)

    def check(self, window: Any, *, raw: Any = None, share: float = 0.5) -> DriftReport:
        """Compare a window (data, or a profile built on this baseline) with it."""
        if isinstance(window, Profile):
            profile = window
        else:
            window = columns_of(window)  # convert a DataFrame or Table once
            raw = window if raw is None else raw
            profile = Profile.build(window, reference=self.profile, sketches=False)
        features: list[FeatureDrift] = []
        for name, stats in self.thresholds.items():
            ref_col, col = self.profile[name], profile.columns.get(name)
            if col is None or not col.count:
                continue
            edges, scale = _geometry(ref_col)
            checks = []
            for stat_name, threshold in stats.items():
                stat = get_statistic(stat_name)
                result = stat.compute(ref_col.counts, col.counts, edges=edges, scale=scale)
                grade = severity(result.value, threshold)
                checks.append(
                    StatCheck(stat_name, result.value, threshold.value, grade, result.p_value)
                )
            worst = max((c.severity for c in checks), key=_RANK.__getitem__)
            drifted = worst != "none"
            features.append(FeatureDrift(name, ref_col.kind, tuple(checks), drifted, worst))
        verdict = dataset_drift({f.feature: f.drifted for f in features}, share=share)
        quality = tuple(check_quality(self.profile, profile, raw=raw))
        return DriftReport(profile.rows, tuple(features), verdict, quality)

    def to_json(self) -> bytes:
        """The baseline as JSON: the profile, the thresholds and the window size."""
        return orjson.dumps({
            "profile": self.profile.to_dict(), "window_size": self.window_size,
            "thresholds": {n: {s: _threshold_dict(t) for s, t in st.items()}
                           for n, st in self.thresholds.items()},
        })  # fmt: skip

    @classmethod
    def from_json(cls, data: bytes | str) -> Baseline:
        """Read :meth:`to_json` output.

        Raises:
            InvalidInput: not a baseline.
        """
        try:
            d = orjson.loads(data)
            thresholds = {
                n: {s: Threshold(**t) for s, t in st.items()} for n, st in d["thresholds"].items()
            }
            return cls(Profile.from_dict(d["profile"]), thresholds, int(d["window_size"]))
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise InvalidInput(f"not a tether baseline: {exc}") from None


def _threshold_dict(t: Threshold) -> dict[str, Any]:
    return {
        "statistic": t.statistic, "mean": t.mean, "std": t.std, "value": t.value, "k": t.k,
        "n_chunks": t.n_chunks, "method": t.method, "window_size": t.window_size,
    }  # fmt: skip


def _distinct_strings(values: np.ndarray) -> set[str] | None:
    """The distinct values of a text array, or of an object array holding only
    strings and missing values (None, NaN); None for anything else."""
    if values.dtype.kind not in "UO":
        return None
    try:
        distinct = set(values.tolist())
    except TypeError:  # unhashable values
        return None
    plain = all(type(v) is str or is_missing(v) for v in distinct)
    return distinct if plain else None


def _geometry(col: NumericColumn | CategoricalColumn) -> tuple[np.ndarray | None, float | None]:
    if isinstance(col, NumericColumn):
        edges = np.concatenate(([-np.inf], col.edges, [np.inf]))
        return edges, (col.std if col.std > 0 else 1.0)
    return None, None


def _bin_indices(col: NumericColumn | CategoricalColumn, values: np.ndarray) -> np.ndarray:
    """Each reference row's bin, in row order (for calibration chunks)."""
    if isinstance(col, NumericColumn):
        return col.bin_indices(values)
    index = {c: i for i, c in enumerate(col.categories)}
    other = len(col.categories)
    known = coded(values)
    if known is not None:  # a text column built from codes: no per-row work at all
        codes, uniques = known
        table = np.asarray([index.get(u, other) for u in uniques], dtype=np.int64)
        return np.asarray(table[codes[codes >= 0]])
    distinct = _distinct_strings(values)
    if distinct is not None:
        # plain strings: each row through a dict at C speed (what follows, without sorting)
        slot = {v: index.get(v, other) if type(v) is str else -1 for v in distinct}
        if values.dtype.kind == "U" and "" in slot:
            slot[""] = -1  # "" is missing in a text array (a category in an object one)
        rows = values.tolist()
        codes = np.fromiter(map(slot.__getitem__, rows), dtype=np.int64, count=len(rows))
        return codes[codes >= 0]
    strings, _ = _strings(values)
    uniq, inverse = np.unique(strings, return_inverse=True)
    slots = np.asarray([index.get(u, other) for u in uniq.tolist()], dtype=np.int64)
    return slots[inverse] if uniq.size else np.zeros(0, dtype=np.int64)
