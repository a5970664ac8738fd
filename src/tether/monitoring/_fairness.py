"""Fairness of a system's labelled decisions, checked like drift: from the ledger.

``tether.monitor.fairness(system, sensitive=[...])`` reads the system's recorded
decisions that have a label (joined by :class:`~tether.monitoring.Feedback`), takes
each sensitive attribute from the decision's inputs (``sex``) or context
(``context.region``; nested keys joined with ``.`` as in monitoring windows), the
decision from the recorded output (a score at or above ``tether.feedback.threshold``
is positive, as for performance) and the truth from the label, and measures them with
:func:`~tether.explain.fairness.fairness_report`. Groups below the four-fifths rule
(an impact ratio under ``threshold``) become ``fairness`` signals.

Nothing here touches the decision path: the decisions are read from the ledger.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from tether.errors import InvalidInput
from tether.explain.fairness import FOUR_FIFTHS, FairnessReport, fairness_report
from tether.monitoring._feedback import _number
from tether.monitoring._watch import _flatten
from tether.store import decision_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = ["MISSING", "fairness"]

MISSING = "(missing)"  # the group of decisions that do not record an attribute


def fairness(
    tether: Tether,
    system: str,
    *,
    sensitive: Sequence[str],
    last: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_group: int = 30,
    threshold: float = FOUR_FIFTHS,
    eod_threshold: float | None = None,
    positive: int = 1,
    emit: bool = True,
    actor: str = "tether:monitor",
) -> FairnessReport:
    """Measure fairness over ``system``'s labelled decisions (see
    :meth:`tether.monitoring.Monitor.fairness`).

    Raises:
        InvalidInput: no sensitive attribute, an attribute no decision records, no
            labelled decisions in the window, outputs or labels that are not numbers.
    """
    names = _names(sensitive)
    if last is not None and (type(last) is not int or last < 1):
        raise InvalidInput(f"last={last!r} must be a positive number of decisions")
    if positive not in (0, 1):
        raise InvalidInput(f"positive={positive!r} must be 1 (a positive decision selects) or 0")
    if since is not None and last is not None:
        raise InvalidInput("give either last (decisions) or since/until (times), not both")
    for name, value in (("threshold", threshold), ("eod_threshold", eod_threshold)):
        if value is not None and not 0 < value <= 1:
            raise InvalidInput(f"{name}={value!r} must be in (0, 1]")
    with tether.store.read() as conn:
        rows = repo.labelled_entries(
            conn, system, last=last,
            since=None if since is None else since.timestamp(),
            until=None if until is None else until.timestamp(),
        )  # fmt: skip
    cut = tether.feedback.threshold
    y_true: list[int] = []
    y_pred: list[int] = []
    groups: dict[str, list[str]] = {n: [] for n in names}
    seen: dict[str, int] = dict.fromkeys(names, 0)
    times: list[float] = []
    keys: set[str] = set()
    erased = unscored = 0
    for decision_id, at, output, label, payload in rows:
        if payload is None:
            erased += 1
            continue
        if output is None:
            unscored += 1  # not executed, or an output too large to keep
            continue
        flat: dict[str, Any] = {}
        p = orjson.loads(payload)
        _flatten("", p.get("inputs"), flat)
        _flatten("context.", p.get("context"), flat)
        keys.update(flat)
        y_pred.append(int(_score(decision_id, output, "output") >= cut))
        y_true.append(int(_score(decision_id, label, "label") >= 0.5))
        for n in names:
            value = flat.get(n)
            seen[n] += value is not None
            groups[n].append(MISSING if value is None else _text(value))
        times.append(at)
    if not y_pred:
        where = "" if last is None and since is None and until is None else " in the window"
        raise InvalidInput(
            f"no labelled decisions of {system!r}{where} with a recorded output: add labels "
            "with tether.feedback.add(decision_id, label) first"
        )
    for n in names:
        if not seen[n]:
            close = difflib.get_close_matches(n, sorted(keys), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidInput(
                f"no labelled decision of {system!r} records {n!r}{hint}: name an input, or "
                "a context value as context.NAME"
            )
    report = fairness_report(y_true, y_pred, groups, min_group=min_group, positive=positive)
    notes = list(report.notes)
    for n in names:
        if seen[n] < len(y_pred):
            notes.append(
                f"{n}: {len(y_pred) - seen[n]} decision(s) do not record it: group {MISSING}"
            )
    if erased:
        notes.append(f"{erased} labelled decision(s) were erased and are left out")
    if unscored:
        notes.append(f"{unscored} labelled decision(s) have no recorded output and are left out")
    report = replace(report, notes=tuple(notes))
    if emit:
        window = _label(times)
        for signal in report.signals(system, threshold=threshold, eod_threshold=eod_threshold,
                                     window=window):  # fmt: skip
            tether.signals.emit(signal, actor=actor)
    return report


def _names(sensitive: Sequence[str]) -> tuple[str, ...]:
    if isinstance(sensitive, str):
        raise InvalidInput(
            f"sensitive={sensitive!r} must be a list of attribute names, e.g. [{sensitive!r}]"
        )
    names = tuple(sensitive)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidInput(
            "sensitive must name at least one attribute: an input (sex) or a context value "
            "(context.region)"
        )
    if len(set(names)) != len(names):
        raise InvalidInput(f"sensitive attributes repeat: {list(names)}")
    return names


def _score(decision_id: str, value: Any, what: str) -> float:
    try:
        return _number(value)
    except InvalidInput:
        raise InvalidInput(
            f"decision {decision_id}: the {what} {value!r} is not a number; fairness is "
            "measured on numeric scores or 0/1 predictions and 0/1 labels"
        ) from None


def _text(value: Any) -> str:
    # 1 and 1.0 (a number as canonical JSON may have written it) are one group
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _label(times: Sequence[float]) -> str:
    lo, hi = (datetime.fromtimestamp(t, UTC) for t in (min(times), max(times)))
    end = hi.strftime("%H:%M:%S") if lo.date() == hi.date() else f"{hi:%Y-%m-%d %H:%M:%S}"
    return f"labelled decisions {lo:%Y-%m-%d %H:%M:%S}-{end} UTC ({len(times):,})"
