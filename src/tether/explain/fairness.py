"""Fairness metrics per group and per intersection of groups, computed with fairlearn.

For each sensitive attribute (``sex``), and for the intersection of all of them
(``sex & age_band``), every group present gets its size, selection rate (the share of
positive decisions), true and false positive rates (with labels), and — when it has at
least ``min_group`` rows — its **impact ratio**: its selection rate over the highest
group's. The four-fifths rule flags a ratio below 0.8. The **equalized-odds
difference** of a dimension is fairlearn's: the larger of the spread (max - min) of
true positive rates and of false positive rates across its groups.

Groups with fewer than ``min_group`` rows are reported with ``too_small=True`` and left
out of every ratio and difference (the report's notes say which); a dimension with
fewer than two groups large enough is not judged. A rate a group cannot have (a true
positive rate without positive labels) is ``None`` and left out of the differences,
where fairlearn (through scikit-learn's confusion matrix) would count it as 0.
Otherwise every value is fairlearn's own (``MetricFrame`` with ``selection_rate``,
``true_positive_rate``, ``false_positive_rate``), and a dimension's smallest impact
ratio is fairlearn's ``demographic_parity_ratio`` over the groups judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tether.errors import InvalidInput

if TYPE_CHECKING:
    from tether.monitoring._signals import Severity, Signal

__all__ = [
    "FOUR_FIFTHS",
    "HIGH_BELOW",
    "Disparity",
    "FairnessReport",
    "GroupMetrics",
    "fairness_report",
]

FOUR_FIFTHS = 0.8
HIGH_BELOW = 0.6  # an impact ratio below three fifths is a high-severity signal

Labels = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class GroupMetrics:
    """One group of one dimension (``sex=F``, or ``sex=F & age_band=<30``)."""

    dimension: str
    group: str
    size: int
    selection_rate: float
    true_positive_rate: float | None
    false_positive_rate: float | None
    impact_ratio: float | None  # None: too small, or nothing to compare with
    too_small: bool

    @property
    def four_fifths_ok(self) -> bool | None:
        """Whether the impact ratio is at least 0.8 (None when not judged)."""
        return None if self.impact_ratio is None else self.impact_ratio >= FOUR_FIFTHS


@dataclass(frozen=True, slots=True)
class Disparity:
    """How far apart the judged groups of one dimension are."""

    dimension: str
    judged: int
    too_small: tuple[str, ...]
    reference: str | None  # the judged group with the highest selection rate
    min_impact_ratio: float | None
    true_positive_rate_difference: float | None
    false_positive_rate_difference: float | None
    equalized_odds_difference: float | None


@dataclass(frozen=True, slots=True)
class FairnessReport:
    """Selection rates, impact ratios and equalized odds per group and intersection.

    Example:
        >>> sex = ["F"] * 40 + ["M"] * 40
        >>> y_pred = [1] * 12 + [0] * 28 + [1] * 20 + [0] * 20
        >>> report = fairness_report(None, y_pred, {"sex": sex}, min_group=30)
        >>> [(g.group, g.selection_rate, g.impact_ratio) for g in report.groups]
        [('sex=F', 0.3, 0.6), ('sex=M', 0.5, 1.0)]
        >>> report.four_fifths_ok, [s.severity for s in report.signals("loan-model")]
        (False, ['medium'])
    """

    rows: int
    min_group: int
    attributes: tuple[str, ...]
    labelled: bool
    groups: tuple[GroupMetrics, ...]
    dimensions: tuple[Disparity, ...]
    notes: tuple[str, ...]

    @property
    def equalized_odds_difference(self) -> float | None:
        """The worst equalized-odds difference over the dimensions judged."""
        found = [d.equalized_odds_difference for d in self.dimensions]
        values = [v for v in found if v is not None]
        return max(values) if values else None

    @property
    def four_fifths_ok(self) -> bool | None:
        """Whether every judged group passes the four-fifths rule (None: none judged)."""
        judged = [g.four_fifths_ok for g in self.groups if g.impact_ratio is not None]
        return all(judged) if judged else None

    @property
    def too_small(self) -> tuple[str, ...]:
        """The groups too small to judge."""
        return tuple(g.group for g in self.groups if g.too_small)

    def group(self, name: str) -> GroupMetrics:
        """The group called ``name`` (``"sex=F"``, ``"sex=F & age_band=<30"``).

        Raises:
            InvalidInput: no such group.
        """
        for g in self.groups:
            if g.group == name:
                return g
        raise InvalidInput(f"no group {name!r}; the groups are {', '.join(self._names())}")

    def _names(self) -> list[str]:
        return [g.group for g in self.groups]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of everything in the report."""
        return {
            "rows": self.rows,
            "min_group": self.min_group,
            "attributes": list(self.attributes),
            "labelled": self.labelled,
            "equalized_odds_difference": self.equalized_odds_difference,
            "four_fifths_ok": self.four_fifths_ok,
            "too_small": list(self.too_small),
            "groups": [{**asdict(g), "four_fifths_ok": g.four_fifths_ok} for g in self.groups],
            "dimensions": [{**asdict(d), "too_small": list(d.too_small)} for d in self.dimensions],
            "notes": list(self.notes),
        }

    def signals(
        self,
        system: str,
        *,
        threshold: float = FOUR_FIFTHS,
        eod_threshold: float | None = None,
        window: str = "",
        version: str | None = None,
    ) -> list[Signal]:
        """Fairness signals for the breaches in this report.

        A judged group whose impact ratio is below ``threshold`` gives an
        ``impact_ratio`` signal: ``high`` below 0.6 (three fifths), else ``medium``.
        With ``eod_threshold``, a dimension whose equalized-odds difference exceeds it
        gives an ``equalized_odds_difference`` signal: ``high`` beyond twice the
        threshold, else ``medium``. ``feature`` names the group or the dimension.

        Raises:
            InvalidInput: a threshold outside (0, 1].
        """
        from tether.monitoring._signals import Signal

        for name, value in (("threshold", threshold), ("eod_threshold", eod_threshold)):
            if value is not None and not 0 < value <= 1:
                raise InvalidInput(f"{name}={value!r} must be in (0, 1]")
        best = {d.dimension: d.reference for d in self.dimensions}
        rate = {g.group: g.selection_rate for g in self.groups}
        out: list[Signal] = []
        for g in self.groups:
            if g.impact_ratio is None or g.impact_ratio >= threshold:
                continue
            ref = best[g.dimension] or ""
            detail = (
                f"selection rate {g.selection_rate:.4g} vs {rate.get(ref, 0.0):.4g} for {ref} "
                f"(the highest); {g.size} rows"
            )
            severity: Severity = "high" if g.impact_ratio < HIGH_BELOW else "medium"
            out.append(Signal(
                "fairness", system, severity, "impact_ratio", g.impact_ratio, threshold,
                feature=g.group, window=window, version=version, detail=detail,
            ))  # fmt: skip
        for d in self.dimensions:
            eod = d.equalized_odds_difference
            if eod_threshold is None or eod is None or eod <= eod_threshold:
                continue
            detail = (
                f"true positive rates differ by {d.true_positive_rate_difference}, false "
                f"positive rates by {d.false_positive_rate_difference} across {d.judged} groups"
            )
            severity = "high" if eod > 2 * eod_threshold else "medium"
            out.append(Signal(
                "fairness", system, severity, "equalized_odds_difference", eod, eod_threshold,
                feature=d.dimension, window=window, version=version, detail=detail,
            ))  # fmt: skip
        return out


def fairness_report(
    y_true: Any,
    y_pred: Any,
    sensitive: Any,
    *,
    min_group: int = 30,
    intersectional: bool = True,
    positive: Any = 1,
) -> FairnessReport:
    """Measure fairness of binary decisions ``y_pred`` across ``sensitive`` groups.

    Args:
        y_true: the true labels, or None for an unlabelled window (selection rates and
            impact ratios only).
        y_pred: the decisions; ``positive`` (default 1) means selected.
        sensitive: a mapping of attribute name to values, or a DataFrame; one value
            per row, none missing (give missing values a group of their own).
        min_group: groups with fewer rows are reported but not judged.
        intersectional: also measure the intersection of all attributes.
        positive: the value of ``y_true`` and ``y_pred`` that counts as positive.

    Raises:
        InvalidInput: lengths that differ, labels that are not binary, missing
            sensitive values, a negative ``min_group``.
    """
    if type(min_group) is not int or min_group < 0:
        raise InvalidInput(f"min_group={min_group!r} must be a whole number of rows, 0 or more")
    pred = _binary("y_pred", y_pred, positive)
    true = None if y_true is None else _binary("y_true", y_true, positive)
    if true is not None and len(true) != len(pred):
        raise InvalidInput(f"y_true has {len(true)} rows and y_pred {len(pred)}; pair them")
    columns = _sensitive(sensitive, len(pred))
    names = tuple(columns)
    dims: list[tuple[str, ...]] = [(name,) for name in names]
    if intersectional and len(names) > 1:
        dims.append(names)
    groups: list[GroupMetrics] = []
    dimensions: list[Disparity] = []
    notes: list[str] = []
    for dim in dims:
        found, disparity = _dimension(dim, columns, true, pred, min_group)
        groups += found
        dimensions.append(disparity)
        if disparity.judged < 2:
            notes.append(
                f"{disparity.dimension}: fewer than two groups have {min_group} rows; "
                "nothing to compare"
            )
    small = [g.group for g in groups if g.too_small]
    if small:
        notes.insert(0, (
            f"{len(small)} group(s) have fewer than {min_group} rows and are too small to "
            f"judge: left out of impact ratios and differences ({', '.join(small)})"
        ))  # fmt: skip
    for g in groups:
        if true is not None and not g.too_small and g.true_positive_rate is None:
            notes.append(f"{g.group}: no positive labels; its true positive rate is undefined")
        if true is not None and not g.too_small and g.false_positive_rate is None:
            notes.append(f"{g.group}: no negative labels; its false positive rate is undefined")
    return FairnessReport(
        len(pred), min_group, names, true is not None, tuple(groups), tuple(dimensions),
        tuple(notes),
    )  # fmt: skip


def _binary(name: str, values: Any, positive: Any) -> Labels:
    arr = np.asarray(values)
    if arr.ndim != 1 or len(arr) == 0:
        raise InvalidInput(f"{name} must be a non-empty 1-D sequence (got shape {arr.shape})")
    try:
        seen = np.unique(arr).tolist()
    except TypeError:
        seen = sorted(set(arr.tolist()), key=repr)
    if len(seen) > 2 or (len(seen) == 2 and positive not in seen):
        shown = ", ".join(map(repr, seen[:5])) + (", …" if len(seen) > 5 else "")
        raise InvalidInput(
            f"{name} holds {shown}; fairness needs binary decisions: {positive!r} for "
            "selected and one other value (set positive= to the selected value)"
        )
    labels: Labels = (arr == positive).astype(np.int64)
    return labels


def _sensitive(sensitive: Any, n: int) -> dict[str, npt.NDArray[np.str_]]:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # fairlearn needs it

    if hasattr(sensitive, "columns"):
        sensitive = {str(c): sensitive[c] for c in sensitive.columns}
    if not isinstance(sensitive, Mapping) or not sensitive:
        raise InvalidInput(
            "sensitive must be a mapping of attribute name to values (or a DataFrame), "
            "e.g. {'sex': [...], 'age_band': [...]}"
        )
    out: dict[str, npt.NDArray[np.str_]] = {}
    for name, values in sensitive.items():
        column = pd.Series(np.asarray(values, dtype=object))
        if column.ndim != 1 or len(column) != n:
            raise InvalidInput(
                f"sensitive attribute {name!r} has {len(column)} values for {n} decisions"
            )
        missing = int(column.isna().sum())
        if missing:
            raise InvalidInput(
                f"sensitive attribute {name!r} has {missing} missing values; give them a "
                "group of their own (e.g. 'unknown')"
            )
        out[str(name)] = column.astype(str).to_numpy(dtype=str)
    return out


def _dimension(
    dim: tuple[str, ...],
    columns: Mapping[str, npt.NDArray[np.str_]],
    true: Labels | None,
    pred: Labels,
    min_group: int,
) -> tuple[list[GroupMetrics], Disparity]:
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    metrics: dict[str, Any] = {"size": count, "selection_rate": selection_rate}
    if true is not None:
        metrics |= {
            "tpr": true_positive_rate, "fpr": false_positive_rate,
            "positives": _positives, "negatives": _negatives,
        }  # fmt: skip
    frame = MetricFrame(
        metrics=metrics,
        y_true=pred if true is None else true,
        y_pred=pred,
        sensitive_features={a: columns[a] for a in dim},
    )
    label = " & ".join(dim)
    rows = []
    for key, metric in frame.by_group.iterrows():
        values = key if isinstance(key, tuple) else (key,)
        name = " & ".join(f"{a}={v}" for a, v in zip(dim, values, strict=True))
        size = int(metric["size"])
        tpr = fpr = None
        if true is not None:
            tpr = float(metric["tpr"]) if metric["positives"] > 0 else None
            fpr = float(metric["fpr"]) if metric["negatives"] > 0 else None
        rows.append((name, size, float(metric["selection_rate"]), tpr, fpr))
    judged = [r for r in rows if r[1] >= min_group]
    if len(judged) < 2:
        judged = []
    top = max(judged, key=lambda r: r[2], default=None)
    groups = []
    for name, size, rate, tpr, fpr in rows:
        ratio = None
        if top is not None and size >= min_group:
            ratio = rate / top[2] if top[2] > 0 else 1.0
        groups.append(GroupMetrics(label, name, size, rate, tpr, fpr, ratio, size < min_group))
    tpr_d = _spread([r[3] for r in judged])
    fpr_d = _spread([r[4] for r in judged])
    both = [v for v in (tpr_d, fpr_d) if v is not None]
    ratios = [g.impact_ratio for g in groups if g.impact_ratio is not None]
    disparity = Disparity(
        label, len(judged), tuple(g.group for g in groups if g.too_small),
        None if top is None else top[0], min(ratios) if ratios else None,
        tpr_d, fpr_d, max(both) if both else None,
    )  # fmt: skip
    return groups, disparity


def _spread(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return max(defined) - min(defined) if len(defined) >= 2 else None


def _positives(y_true: Any, y_pred: Any) -> float:
    return float(np.sum(np.asarray(y_true) == 1))


def _negatives(y_true: Any, y_pred: Any) -> float:
    return float(np.sum(np.asarray(y_true) == 0))
