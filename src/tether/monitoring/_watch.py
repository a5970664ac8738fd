"""Watching a system: its stored baseline against windows of its recorded decisions.

``tether.monitor.set_baseline(system, baseline, anomalies=...)`` stores a system's
:class:`~tether.monitoring.Baseline` (and optionally an
:class:`~tether.monitoring.AnomalyDetector`) in the database, with a
``monitor.baseline`` ledger entry carrying their digest. ``window`` turns the system's
recorded decisions into columns: each decision's inputs (nested keys joined with
``.``), its context under ``context.``, and a scalar model output as ``output``;
``windows`` cuts them by count or by time; ``check`` compares a window with the
baseline (drift, data quality, anomalies), raises the signals it finds and records the
check as a ``monitor.check`` ledger entry (what the console's monitoring page charts).

Nothing here touches the decision path: windows are read from the ledger afterwards.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from tether.errors import InvalidInput, NotFound
from tether.monitoring._anomaly import AnomalyDetector, AnomalyReport
from tether.monitoring._baseline import Baseline, DriftReport
from tether.monitoring._signals import Signal
from tether.store import baseline_repo, monitor_repo
from tether.store import decision_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.explain.fairness import FairnessReport

__all__ = ["Monitor", "StoredBaseline", "WatchReport", "Window", "batch_windows"]


@dataclass(frozen=True, slots=True)
class StoredBaseline:
    """A system's baseline as stored."""

    system: str
    baseline: Baseline
    anomalies: AnomalyDetector | None
    action: str | None
    digest: str
    set_at: datetime
    ledger_index: int


@dataclass(frozen=True)
class Window:
    """Recorded decisions of a system as columns, oldest first."""

    system: str
    ids: tuple[str, ...]
    times: np.ndarray
    columns: dict[str, np.ndarray] = field(repr=False)
    erased: int = 0  # decisions whose payload was erased (not in the columns)
    rows: tuple[str, ...] = ()  # the decision id of each row of the columns

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def label(self) -> str:
        """E.g. ``decisions 2026-11-29 04:10:00-04:30:12 UTC (2,000)``."""
        if not self.n:
            return "no decisions"
        lo, hi = (datetime.fromtimestamp(float(t), UTC) for t in (self.times[0], self.times[-1]))
        end = hi.strftime("%H:%M:%S") if lo.date() == hi.date() else f"{hi:%Y-%m-%d %H:%M:%S}"
        return f"decisions {lo:%Y-%m-%d %H:%M:%S}-{end} UTC ({self.n:,})"


@dataclass(frozen=True)
class WatchReport:
    """One window of a system checked against its baseline."""

    system: str
    window: Window
    drift: DriftReport
    anomalies: AnomalyReport | None
    partial: bool  # fewer rows than half the calibrated window: no signals raised
    signals: tuple[Signal, ...]
    raised: tuple[int, ...] = ()  # ledger indices of the signals emitted
    recorded: int | None = None  # ledger index of the monitor.check entry (with emit)

    @property
    def anomalous(self) -> tuple[tuple[str, float], ...]:
        """(decision id, anomaly score) of the window's most anomalous inputs."""
        if self.anomalies is None:
            return ()
        return tuple((self.window.rows[r], s) for r, s in self.anomalies.top)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "window": {"label": self.window.label, "n": self.window.n,
                       "first": self.window.ids[0] if self.window.n else None,
                       "last": self.window.ids[-1] if self.window.n else None,
                       "erased": self.window.erased},
            "partial": self.partial,
            "drift": self.drift.to_dict(),
            "anomalies": None if self.anomalies is None else {
                **self.anomalies.to_dict(),
                "top": [{"decision": d, "score": s} for d, s in self.anomalous]},
            "signals": [s.as_dict() for s in self.signals],
            "raised": list(self.raised),
            "recorded": self.recorded,
        }  # fmt: skip


class Monitor:
    """Stored baselines and windows of recorded decisions (``tether.monitor``).

    Example:
        >>> import numpy as np
        >>> from tether.monitoring import Baseline
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> rng = np.random.default_rng(0)
        >>> base = Baseline.build({"x": rng.normal(0, 1, 5_000)}, window_size=500)
        >>> t.monitor.set_baseline("scorer", base, actor="user:ana") >= 0
        True
        >>> t.monitor.get("scorer").baseline.window_size
        500
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether

    def set_baseline(
        self,
        system: str,
        baseline: Baseline,
        *,
        actor: str,
        anomalies: AnomalyDetector | None = None,
        action: str | None = None,
        reason: str = "",
    ) -> int:
        """Store ``system``'s baseline (replacing any earlier one); return the index
        of its ``monitor.baseline`` ledger entry. ``action`` restricts the watched
        decisions to one action (e.g. a model's ``predict``)."""
        if not system:
            raise InvalidInput("a baseline needs a system name")
        base_json = baseline.to_json()
        anomalies_json = anomalies.to_json() if anomalies is not None else None
        digest = hashlib.sha256(base_json + b"\0" + (anomalies_json or b"")).hexdigest()
        now = self._t.clock.now().timestamp()
        entry = self._t.ledger.append(
            "monitor.baseline", actor,
            {"system": system, "action": action, "digest": digest, "reason": reason,
             "window_size": baseline.window_size, "rows": baseline.profile.rows,
             "features": sorted(baseline.thresholds),
             "anomalies": None if anomalies is None else
             {"rate": anomalies.rate, "alpha": anomalies.alpha, "trees": anomalies.trees}},
            subject=f"system/{system}/monitor",
            mutation=baseline_repo.put(system, action, base_json.decode(),
                                       None if anomalies_json is None else anomalies_json.decode(),
                                       digest, now),
        )  # fmt: skip
        return entry.index

    def get(self, system: str) -> StoredBaseline:
        """``system``'s stored baseline.

        Raises:
            NotFound: the system has no baseline.
        """
        with self._t.store.read() as conn:
            row = baseline_repo.get(conn, system)
        if row is None:
            raise NotFound(
                f"system {system!r} has no monitoring baseline: set one with "
                "tether.monitor.set_baseline(...) or 'tether monitor set-baseline'"
            )
        return StoredBaseline(
            system, Baseline.from_json(row["baseline"]),
            None if row["anomalies"] is None else AnomalyDetector.from_json(row["anomalies"]),
            row["action"], row["digest"], datetime.fromtimestamp(row["set_at"], UTC),
            int(row["ledger_index"]),
        )  # fmt: skip

    def window(
        self,
        system: str,
        *,
        action: str | None = None,
        last: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Window:
        """The ``last`` recorded decisions of ``system`` (or those between ``since``
        and ``until``) as columns."""
        if last is not None and last < 1:
            raise InvalidInput("last must be a positive number of decisions")
        with self._t.store.read() as conn:
            rows = repo.window(conn, system, action=action, last=last,
                               since=_ts(since), until=_ts(until))  # fmt: skip
        return _window(system, rows)

    def windows(
        self,
        system: str,
        *,
        size: int | None = None,
        every: float | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        last: int | None = None,
    ) -> list[Window]:
        """Consecutive windows of ``size`` decisions (the last may be shorter), or of
        ``every`` seconds of decision time, oldest first; ``last`` reads only the most
        recent decisions (``last=3 * size``: the three latest full windows)."""
        _check_windows(size, every, "decisions")
        if last is not None and last < 1:
            raise InvalidInput("last must be a positive number of decisions")
        with self._t.store.read() as conn:
            rows = repo.window(conn, system, action=action, last=last, since=_ts(since),
                               until=_ts(until))  # fmt: skip
        return [_window(system, part) for part in _cut(rows, size, every)]

    def check(
        self,
        system: str,
        window: Window | None = None,
        *,
        emit: bool = True,
        actor: str = "tether:monitor",
    ) -> WatchReport:
        """Check a window (default: the last ``window_size`` decisions) against the
        system's baseline; with ``emit``, raise its drift, quality and anomaly
        signals (a window under half the calibrated size raises none) and record the
        check as a ``monitor.check`` ledger entry (``report.recorded``).

        Raises:
            NotFound: the system has no baseline.
            InvalidInput: the window holds no decisions.
        """
        stored = self.get(system)
        base = stored.baseline
        if window is None:
            window = self.window(system, action=stored.action, last=base.window_size)
        if not window.columns or not window.n - window.erased:
            raise InvalidInput(
                f"no recorded decisions of {system!r}"
                + (f" (action {stored.action!r})" if stored.action else "")
                + " in the window: nothing to check"
            )
        features = {n: v for n, v in window.columns.items() if n in base.profile.columns}
        drift = base.check(features, raw=features)
        anomalies = stored.anomalies.check(features) if stored.anomalies is not None else None
        partial = window.n - window.erased < max(1, base.window_size // 2)
        found: list[Signal] = []
        if not partial:
            found = drift.signals(system, window=window.label)
            if anomalies is not None and (s := anomalies.signal(system, window=window.label)):
                found.append(s)
        raised: list[int] = []
        if emit:
            for s in found:
                index = self._t.signals.emit(s, actor=actor)
                if index is not None:
                    raised.append(index)
        report = WatchReport(system, window, drift, anomalies, partial, tuple(found),
                             tuple(raised))  # fmt: skip
        if not emit:
            return report
        # The check itself is evidence (post-market monitoring): its report is the
        # entry's payload, and monitor_checks finds a system's latest ones.
        now = self._t.clock.now().timestamp()
        entry = self._t.ledger.append(
            "monitor.check", actor, _check_payload(stored, report),
            subject=f"system/{system}/monitor", mutation=monitor_repo.record_check(system, now),
        )  # fmt: skip
        return replace(report, recorded=entry.index)

    def fairness(
        self,
        system: str,
        *,
        sensitive: list[str],
        last: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        min_group: int = 30,
        threshold: float = 0.8,
        eod_threshold: float | None = None,
        positive: int = 1,
        emit: bool = True,
        actor: str = "tether:monitor",
    ) -> FairnessReport:
        """Fairness of ``system``'s labelled decisions (the ``last`` ones, or those
        between ``since`` and ``until``; default all) across the ``sensitive``
        attributes, read from each decision's inputs or context (``context.region``).

        A decision is positive when its recorded score is at least
        ``tether.feedback.threshold`` (a 0/1 prediction counts as its own score), and
        ``positive`` (1, or 0) is the decision that selects; the label is the truth.
        Groups with fewer than ``min_group`` decisions are reported, not judged; with
        ``emit``, each judged group whose impact ratio is below ``threshold`` (and,
        with ``eod_threshold``, each dimension whose equalized-odds difference exceeds
        it) raises a ``fairness`` signal naming it.

        Raises:
            InvalidInput: no sensitive attribute, one no decision records, no labelled
                decisions, or outputs and labels that are not numbers.
        """
        from tether.monitoring._fairness import fairness

        return fairness(
            self._t, system, sensitive=sensitive, last=last, since=since, until=until,
            min_group=min_group, threshold=threshold, eod_threshold=eod_threshold,
            positive=positive, emit=emit, actor=actor,
        )  # fmt: skip


def _check_payload(stored: StoredBaseline, report: WatchReport) -> dict[str, Any]:
    """What a ``monitor.check`` entry records: the report (without the signals, which
    have their own entries: ``raised``), the baseline's digest, the window's times."""
    body = report.to_dict()
    del body["signals"], body["recorded"]
    w = report.window
    body["window"].update(
        start=float(w.times[0]) if w.n else None, end=float(w.times[-1]) if w.n else None
    )
    plain: dict[str, Any] = _plain({"action": stored.action, "baseline": stored.digest, **body})
    return plain


def _plain(value: Any) -> Any:
    """``value`` as JSON the ledger accepts: NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_windows(size: int | None, every: float | None, unit: str) -> None:
    if (size is None) == (every is None):
        raise InvalidInput(f"give windows either a size ({unit}) or every (seconds)")
    if (size is not None and size < 1) or (every is not None and every <= 0):
        raise InvalidInput("a window's size or duration must be positive")


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _window(system: str, rows: list[tuple[str, float, bytes | None]]) -> Window:
    records: list[dict[str, Any]] = []
    erased = 0
    present: list[str] = []
    for decision_id, _, payload in rows:
        if payload is None:
            erased += 1
            continue
        flat: dict[str, Any] = {}
        p = orjson.loads(payload)
        _flatten("", p.get("inputs"), flat)
        _flatten("context.", p.get("context"), flat)
        if isinstance(p.get("output"), bool | int | float | str):
            flat["output"] = p["output"]
        records.append(flat)
        present.append(decision_id)
    names: dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(r))
    columns = {n: np.asarray([r.get(n) for r in records], dtype=object) for n in names}
    for n, v in columns.items():  # a column of plain numbers becomes float64
        if all(isinstance(x, int | float) and not isinstance(x, bool) for x in v.tolist()):
            columns[n] = v.astype(np.float64)
    ids = tuple(i for i, _, _ in rows)
    times = np.asarray([t for _, t, _ in rows], dtype=np.float64)
    return Window(system, ids, times, columns, erased, tuple(present))


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}{k}." if isinstance(v, Mapping) else f"{prefix}{k}", v, out)
    elif prefix and (isinstance(value, bool | int | float | str) or value is None):
        out[prefix] = value


def _cut(
    rows: list[tuple[str, float, bytes | None]], size: int | None, every: float | None
) -> Iterator[list[tuple[str, float, bytes | None]]]:
    if not rows:
        return
    if size is not None:
        for start in range(0, len(rows), size):
            yield rows[start : start + size]
        return
    assert every is not None
    first = rows[0][1]
    part: list[tuple[str, float, bytes | None]] = []
    slot = 0
    for row in rows:
        s = int((row[1] - first) // every)
        if s != slot and part:
            yield part
            part = []
        slot = s
        part.append(row)
    if part:
        yield part


def batch_windows(
    data: Any,
    *,
    size: int | None = None,
    every: float | None = None,
    time: str | None = None,
) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """Cut a batch into windows, yielding (label, columns): consecutive ``size`` rows,
    or ``every`` seconds of the ``time`` column (numbers of seconds, or datetime64),
    oldest first. The time column itself is left out of each window.

    Example:
        >>> import numpy as np
        >>> [label for label, _ in batch_windows({"x": np.arange(5.0)}, size=2)]
        ['rows 1-2', 'rows 3-4', 'rows 5-5']

    Raises:
        InvalidInput: neither or both of size and every; every without time; a time
            column that is missing or not times.
    """
    from tether.monitoring._profile import columns_of

    cols = columns_of(data)
    rows = len(next(iter(cols.values()))) if cols else 0
    _check_windows(size, every, "rows")
    if size is not None:
        for start in range(0, rows, size):
            stop = min(start + size, rows)
            yield f"rows {start + 1}-{stop}", {n: v[start:stop] for n, v in cols.items()}
        return
    if time is None or time not in cols:
        raise InvalidInput(
            f"windows by time need a time column: pass time=NAME (one of {sorted(cols)})"
        )
    raw = cols.pop(time)
    try:
        stamps = (
            raw.astype("datetime64[ns]").astype(np.int64) / 1e9
            if raw.dtype.kind in "MOU"
            else raw.astype(np.float64)
        )
    except (TypeError, ValueError):
        raise InvalidInput(
            f"column {time!r} is not times: use seconds since the epoch or ISO 8601 dates"
        ) from None
    assert every is not None
    if np.isnan(stamps).any():
        raise InvalidInput(
            f"{int(np.isnan(stamps).sum())} rows have no time in column {time!r}: "
            "fill or drop them first"
        )
    slots = np.floor((stamps - np.nanmin(stamps)) / every).astype(np.int64)
    order = np.argsort(slots, kind="stable")
    for slot in np.unique(slots):
        pick = order[slots[order] == slot]
        lo = datetime.fromtimestamp(float(np.nanmin(stamps) + slot * every), UTC)
        yield f"from {lo:%Y-%m-%d %H:%M:%S} UTC", {n: v[pick] for n, v in cols.items()}
