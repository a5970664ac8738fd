"""Console pages: monitoring — what each system's recorded checks found, over windows.

``/console/monitoring`` lists the systems the user may see with their baseline, their
recorded checks and their active signals. ``/console/monitoring?system=NAME`` shows the
system's last ``windows`` recorded checks (default 100, at most 1,000): per feature, its
drift statistic per window against the threshold (breaches marked); the anomaly rate
against the rate a normal window stays under; performance per window from the labels
joined so far; the data-quality findings of the latest window; behaviour and the other
signals with their severity and time.

Everything shown was recorded: checks are ``monitor.check`` ledger entries (``tether
monitor watch``, or ``t.monitor.check``), read through :mod:`tether.store.monitor_repo`.
Nothing is recomputed on a page view except performance, which is measured from the
labels (they arrive after the checks).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from tether.core import Tether
from tether.errors import InvalidInput
from tether.monitoring._feedback import classification_metrics, regression_metrics
from tether.server._auth import get_tether
from tether.server._schemas import NAME_PATTERN
from tether.server._tokens import Principal
from tether.server._users import USER_ROLES
from tether.server.console._charts import Series, line_chart
from tether.server.console._session import CurrentUser, check_system, require
from tether.server.console._web import render
from tether.store import decision_repo, inventory_repo, monitor_repo

__all__ = ["DEFAULT_WINDOWS", "MAX_WINDOWS", "Check", "parse_checks", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)

DEFAULT_WINDOWS = 100
"""Recorded checks shown per system unless ``?windows=`` asks for another number."""
MAX_WINDOWS = 1_000
"""The most checks one page shows (the page stays fast with years of checks)."""

TetherDep = Annotated[Tether, Depends(get_tether)]


@dataclass(frozen=True, slots=True)
class Check:
    """One recorded check, as its ``monitor.check`` entry has it."""

    index: int
    at: float
    label: str
    start: float | None
    end: float | None
    n: int
    partial: bool
    baseline: str
    features: dict[str, dict[str, Any]] = field(repr=False)
    anomalies: dict[str, Any] | None = field(repr=False)
    quality: list[dict[str, Any]] = field(repr=False)
    raised: list[int] = field(repr=False)

    @property
    def drifted(self) -> list[str]:
        """The features that drifted in this window."""
        return sorted(name for name, f in self.features.items() if f.get("drifted"))


def parse_checks(rows: Sequence[monitor_repo.CheckRow]) -> tuple[list[Check], int]:
    """The checks of ``rows`` (oldest first) and how many were erased; a window
    checked again (same decisions, same baseline) counts once, as last checked.

    Example:
        >>> row = monitor_repo.CheckRow(7, 60.0, b'{"window": {"label": "w", "n": 3}}')
        >>> checks, erased = parse_checks([row, monitor_repo.CheckRow(8, 61.0, None)])
        >>> [(c.index, c.label, c.n) for c in checks], erased
        ([(7, 'w', 3)], 1)
    """
    out: dict[tuple[Any, ...], Check] = {}
    erased = 0
    for row in rows:
        if row.payload is None:
            erased += 1
            continue
        p = orjson.loads(row.payload)
        w = p.get("window") or {}
        drift = p.get("drift") or {}
        check = Check(
            row.ledger_index, row.checked_at, str(w.get("label", "")), w.get("start"),
            w.get("end"), int(w.get("n") or 0), bool(p.get("partial")), str(p.get("baseline", "")),
            {str(f["feature"]): f for f in drift.get("features", [])}, p.get("anomalies"),
            list(drift.get("quality", [])), list(p.get("raised", [])),
        )  # fmt: skip
        key = (
            (w.get("first"), w.get("last"), check.baseline)
            if w.get("last")
            else (row.ledger_index,)
        )
        out.pop(key, None)  # re-insert: a re-check keeps its latest place
        out[key] = check
    return sorted(out.values(), key=lambda c: c.index), erased


def _labels(checks: Sequence[Check]) -> list[str]:
    """X labels: each window's end (its check time when unknown), in UTC."""
    times = [c.end if c.end is not None else c.at for c in checks]
    days = {datetime.fromtimestamp(t, UTC).date() for t in times}
    fmt = "%H:%M" if len(days) <= 1 else "%m-%d %H:%M"
    return [datetime.fromtimestamp(t, UTC).strftime(fmt) for t in times]


@dataclass(frozen=True, slots=True)
class FeatureView:
    """One feature's chart and latest statistics."""

    name: str
    kind: str
    statistic: str
    chart: Markup
    latest: list[dict[str, Any]]
    drifted: bool
    breaches: int  # windows where the charted statistic is beyond its threshold
    drifted_windows: int  # windows where the feature drifted (by any statistic)


def _value(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def feature_views(checks: Sequence[Check], labels: Sequence[str]) -> list[FeatureView]:
    """Per feature, a chart of the statistic that is worst in its latest window;
    drifted features first."""
    names = sorted({n for c in checks for n in c.features})
    views = []
    for name in names:
        latest = next(c.features[name] for c in reversed(checks) if name in c.features)
        stats = latest.get("checks") or []
        worst = max(stats, key=_ratio, default={"statistic": "?"})
        statistic = str(worst["statistic"])
        values: list[float | None] = []
        limits: list[float | None] = []
        for c in checks:
            found = next(
                (s for s in (c.features.get(name) or {}).get("checks", [])
                 if s.get("statistic") == statistic), None,
            )  # fmt: skip
            values.append(None if found is None else _value(found.get("value")))
            limits.append(None if found is None else _value(found.get("threshold")))
        breaches = sum(
            1
            for v, t in zip(values, limits, strict=True)
            if v is not None and t is not None and v > t
        )
        chart = line_chart(
            f"{name}: {statistic} per window", labels, [Series(statistic, values)],
            threshold=limits, y_label=statistic, floor=0.0,
        )  # fmt: skip
        drifted = sum(1 for c in checks if (c.features.get(name) or {}).get("drifted"))
        views.append(FeatureView(name, str(latest.get("kind", "")), statistic, chart, stats,
                                 bool(latest.get("drifted")), breaches, drifted))  # fmt: skip
    return sorted(views, key=lambda v: (not v.drifted, v.name))


def _ratio(stat: dict[str, Any]) -> float:
    value, threshold = _value(stat.get("value")), _value(stat.get("threshold"))
    return value / threshold if value is not None and threshold else 0.0


def anomaly_chart(checks: Sequence[Check], labels: Sequence[str]) -> Markup | None:
    """The anomaly rate per window against the most a normal window shows (limit / n)."""
    if not any(c.anomalies for c in checks):
        return None
    rates: list[float | None] = []
    limits: list[float | None] = []
    for c in checks:
        a = c.anomalies or {}
        n = a.get("n") or 0
        rates.append(_value(a.get("rate")))
        limits.append(a["limit"] / n if n and isinstance(a.get("limit"), int) else None)
    return line_chart("anomaly rate per window", labels, [Series("anomaly rate", rates)],
                      threshold=limits, y_label="share of inputs", floor=0.0)  # fmt: skip


def performance_chart(
    t: Tether, system: str, checks: Sequence[Check], labels: Sequence[str]
) -> tuple[Markup | None, str]:
    """Performance per window from the labels joined so far (accuracy for 0/1 labels,
    else mean absolute error), and which metric; (None, "") without labels."""
    spans = [(c.start, c.end) for c in checks if c.start is not None and c.end is not None]
    if not spans:
        return None, ""
    with t.store.read() as conn:
        rows = decision_repo.labelled(conn, system, min(s for s, _ in spans),
                                      max(e for _, e in spans) + 1e-6)  # fmt: skip
    points: list[tuple[float, float, float]] = []
    for _, at, output, label in rows:
        p, y = _number(output), _number(label)
        if p is not None and y is not None:
            points.append((float(at), p, y))
    if not points:
        return None, ""
    binary = all(y in (0.0, 1.0) for _, _, y in points)
    metric = "accuracy" if binary else "mae"
    values: list[float | None] = []
    counts: list[int] = []
    times = [at for at, _, _ in points]  # by time, as the repository orders them
    for c in checks:
        lo = bisect_left(times, c.start) if c.start is not None else 0
        hi = bisect_right(times, c.end) if c.end is not None else 0
        part = [(p, y) for _, p, y in points[lo:hi]]
        counts.append(len(part))
        if not part:
            values.append(None)
            continue
        preds = np.asarray([p for p, _ in part], dtype=float)
        truth = np.asarray([y for _, y in part], dtype=float)
        measured = (classification_metrics(truth, preds, t.feedback.threshold) if binary
                    else regression_metrics(truth, preds))  # fmt: skip
        values.append(_value(measured[metric]))
    chart = line_chart(
        f"{metric} per window ({sum(counts):,} labelled decisions)", labels,
        [Series(metric, values)], y_label=metric, floor=0.0,
    )  # fmt: skip
    return chart, metric


def _number(value: Any) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, list) and value and isinstance(value[-1], int | float):
        return float(value[-1])  # predict_proba rows: the positive class's score
    return None


def _windows(text: str) -> int:
    """``?windows=``: how many recorded checks to show.

    Raises:
        InvalidInput: not a whole number from 1 to :data:`MAX_WINDOWS`.
    """
    if not text.strip():
        return DEFAULT_WINDOWS
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_WINDOWS:
        raise InvalidInput(
            f"windows={text[:20]!r} is not a number of windows; use a whole number from 1 "
            f"to {MAX_WINDOWS:,} (default {DEFAULT_WINDOWS})"
        )
    return n


def _systems(t: Tether, user: Principal) -> list[dict[str, Any]]:
    """Each system the user may see that is registered or monitored, with its
    baseline, its recorded checks and its active signals."""
    with t.store.read() as conn:
        known = {str(r["name"]) for r in inventory_repo.system_rows(conn)}
        bases = {b.system: b for b in monitor_repo.baseline_rows(conn)}
        counts = monitor_repo.check_counts(conn)
        active = [s for s in monitor_repo.signal_rows(conn, limit=1_000) if s["cleared_at"] is None]
        names = sorted(n for n in known | set(bases) | set(counts) if user.covers(n))
        latest = {n: monitor_repo.checks(conn, n, last=1) for n in names if n in counts}
    by_system: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in active:
        by_system[str(s["system"])].append(s)
    out = []
    for name in names:
        checks, _ = parse_checks(latest.get(name, []))
        count, last_at = counts.get(name, (0, None))
        out.append({"name": name, "baseline": _baseline(bases.get(name)), "checks": count,
                    "last_at": last_at, "latest": checks[-1] if checks else None,
                    "signals": by_system.get(name, [])})  # fmt: skip
    return out


def _baseline(row: monitor_repo.BaselineRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    p = orjson.loads(row.payload) if row.payload is not None else {}
    return {"set_at": row.set_at, "action": row.action, "digest": row.digest,
            "ledger_index": row.ledger_index, "window_size": p.get("window_size"),
            "rows": p.get("rows"), "features": p.get("features") or []}  # fmt: skip


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring(
    request: Request,
    user: CurrentUser,
    t: TetherDep,
    system: Annotated[str, Query(max_length=200)] = "",
    windows: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """The monitored systems, or one system's checks over its last windows."""
    require(user, *USER_ROLES)
    last = _windows(windows)
    system = system.strip()
    if not system:
        return render(request, "monitoring.html", user, nav="monitoring",
                      systems=_systems(t, user), system=None)  # fmt: skip
    if not re.fullmatch(NAME_PATTERN, system):
        raise InvalidInput(
            f"system {system[:40]!r} is not a system name: names are letters, digits and "
            "_ . : / @ - (pick one from /console/monitoring)"
        )
    check_system(user, system)
    with t.store.read() as conn:
        rows = monitor_repo.checks(conn, system, last=last)
        bases = monitor_repo.baseline_rows(conn, [system])
        signals = monitor_repo.signal_rows(conn, system)
        registered = inventory_repo.system_row(conn, system) is not None
    checks, erased = parse_checks(rows)
    labels = _labels(checks)
    performance, metric = performance_chart(t, system, checks, labels)
    return render(
        request, "monitoring.html", user, nav="monitoring", system=system,
        registered=registered, baseline=_baseline(bases[0] if bases else None), checks=checks,
        erased=erased, windows=last, features=feature_views(checks, labels),
        anomalies=anomaly_chart(checks, labels), performance=performance, metric=metric,
        behaviour=[s for s in signals if s["kind"] == "behaviour"],
        signals=[s for s in signals if s["kind"] != "behaviour"],
        latest=checks[-1] if checks else None,
    )  # fmt: skip
