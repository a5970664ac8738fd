"""Data quality of a window against its reference, from the two profiles alone.

Findings: a column added, removed or retyped (schema); a missing rate that grew;
type errors; values outside the reference's range (numeric) or categories the
reference never had (categorical). Each is a :class:`QualityIssue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tether.monitoring._profile import CategoricalColumn, NumericColumn, Profile, columns_of

__all__ = ["QualityIssue", "check_quality"]

IssueKind = Literal[
    "column_added",
    "column_removed",
    "column_retyped",
    "missing_rate",
    "type_errors",
    "out_of_range",
    "unseen_categories",
]


@dataclass(frozen=True, slots=True)
class QualityIssue:
    """One data-quality finding for one column."""

    column: str
    kind: IssueKind
    value: float  # the window's rate (or count for schema findings)
    reference: float  # the reference's rate
    detail: str


def check_quality(
    reference: Profile,
    window: Profile,
    *,
    raw: Any = None,
    missing_increase: float = 0.05,
    rate_floor: float = 0.01,
) -> list[QualityIssue]:
    """Compare ``window`` with ``reference``.

    ``raw`` (the window's batch, optional) adds schema findings: columns the reference
    lacks, and numeric columns that arrived as text. A missing rate is flagged when it
    grew by more than ``missing_increase`` (absolute); type errors, out-of-range values
    and unseen categories when more than ``rate_floor`` of the window has them.

    Example:
        >>> import numpy as np
        >>> ref = Profile.build({"age": np.arange(18, 90, dtype=float)})
        >>> win = Profile.build({"age": [30.0, 150.0, None, None]}, reference=ref)
        >>> [(i.kind, round(i.value, 2)) for i in check_quality(ref, win)]
        [('missing_rate', 0.5), ('out_of_range', 0.5)]
    """
    issues: list[QualityIssue] = []
    cols = columns_of(raw) if raw is not None else {}
    if raw is not None:
        for name in sorted(cols.keys() - reference.columns.keys()):
            issues.append(
                QualityIssue(name, "column_added", 1, 0, f"{name!r} is not in the reference")
            )
        for name, values in cols.items():
            ref_col = reference.columns.get(name)
            if isinstance(ref_col, NumericColumn) and values.dtype.kind in "USO":
                sample = [v for v in values[:1000].tolist() if v is not None]
                if sample and all(isinstance(v, str) for v in sample):
                    why = f"{name!r} was numeric and arrives as text"
                    issues.append(QualityIssue(name, "column_retyped", 1, 0, why))
    for name, ref_col in reference.columns.items():
        col = window.columns.get(name)
        if col is None or (raw is not None and name not in cols):
            issues.append(QualityIssue(name, "column_removed", 1, 0, f"{name!r} is missing"))
            continue
        issues.extend(_column_issues(name, ref_col, col, missing_increase, rate_floor))
    return issues


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _column_issues(
    name: str,
    ref: NumericColumn | CategoricalColumn,
    col: NumericColumn | CategoricalColumn,
    missing_increase: float,
    rate_floor: float,
) -> list[QualityIssue]:
    out: list[QualityIssue] = []
    ref_total = ref.count + ref.missing + ref.type_errors
    total = col.count + col.missing + col.type_errors
    if total == 0:
        return out
    ref_missing, missing = _rate(ref.missing, ref_total), _rate(col.missing, total)
    if missing - ref_missing > missing_increase:
        out.append(QualityIssue(name, "missing_rate", missing, ref_missing,
                                f"{missing:.1%} missing, reference {ref_missing:.1%}"))  # fmt: skip
    errors = _rate(col.type_errors, total)
    if errors > rate_floor:
        out.append(QualityIssue(name, "type_errors", errors, _rate(ref.type_errors, ref_total),
                                f"{col.type_errors} values of the wrong type"))  # fmt: skip
    if isinstance(ref, NumericColumn) and isinstance(col, NumericColumn) and col.count:
        outside = _outside(ref, col)
        if _rate(outside, col.count) > rate_floor:
            out.append(QualityIssue(
                name, "out_of_range", _rate(outside, col.count), 0.0,
                f"{outside} values outside the reference range [{ref.min:g}, {ref.max:g}]",
            ))  # fmt: skip
    if isinstance(ref, CategoricalColumn) and isinstance(col, CategoricalColumn) and col.count:
        unseen = int(col.counts[-1])
        ref_unseen = _rate(int(ref.counts[-1]), ref.count)
        if _rate(unseen, col.count) - ref_unseen > rate_floor:
            out.append(QualityIssue(name, "unseen_categories", _rate(unseen, col.count), ref_unseen,
                                    f"{unseen} values in no reference category"))  # fmt: skip
    return out


def _outside(ref: NumericColumn, col: NumericColumn) -> int:
    """Values outside the reference's [min, max] (counted while profiling the window)."""
    del ref
    return col.below + col.above
