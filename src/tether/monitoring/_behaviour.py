"""Behaviour streams of agents and services, watched as their decisions are recorded.

A :class:`BehaviourMonitor` is a pipeline monitor (``tether.pipeline.monitors``): every
recorded decision updates its actor's streams — the deny rate and the error rate (River
ADWIN), the entropy of the action mix over a sliding window, and the actions per minute
(Page-Hinkley, on ``log2(1 + count)`` of each whole minute, so the same test fits a
slow and a busy actor; simulated on Poisson traffic: a sixfold pace is caught in 2-4
minutes, a doubled one of a busy actor in about 15, and a steady actor raises a false
alarm in under 3 % of 1,000-minute runs even at one action a minute) — and a
detected rise raises a ``behaviour`` signal for the decision's system, which policy
sees as ``signals.behaviour``. State is per process.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tether.monitoring._signals import Signal

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.pipeline import Decision

__all__ = ["BehaviourMonitor"]


@dataclass
class _Streams:
    deny: Any
    error: Any
    entropy: Any
    pace: Any = None
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    seen: int = 0
    minute: int | None = None  # the minute being counted
    in_minute: int = 0
    minutes: int = 0  # whole minutes fed to ``pace``
    pace_sum: float = 0.0  # of log2(1 + count), for the usual pace


class BehaviourMonitor:
    """Watch each actor's deny rate, error rate and action-mix entropy.

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> monitor = BehaviourMonitor.attach(t)
        >>> monitor in t.pipeline.monitors
        True
        >>> t.close()
    """

    def __init__(self, tether: Tether, *, warmup: int = 30) -> None:
        self._t = tether
        self.warmup = warmup
        self._streams: dict[str, _Streams] = {}
        self._lock = threading.Lock()

    @classmethod
    def attach(cls, tether: Tether, **options: Any) -> BehaviourMonitor:
        """Create one and register it on the tether's pipeline."""
        monitor = cls(tether, **options)
        tether.pipeline.monitors.append(monitor)
        return monitor

    def __call__(self, decision: Decision) -> None:
        from river.drift import ADWIN, PageHinkley

        with self._lock:
            s = self._streams.get(decision.actor)
            if s is None:
                deny, error = ADWIN(), ADWIN()  # type: ignore[no-untyped-call]
                entropy = PageHinkley(min_instances=self.warmup)
                pace = PageHinkley(min_instances=10, delta=0.35, threshold=6.0, mode="up")
                s = self._streams[decision.actor] = _Streams(deny, error, entropy, pace)
            s.seen += 1
            s.recent.append(decision.action)
            found = self._pace(s)
            for name, stream, value in (
                ("deny_rate", s.deny, float(decision.outcome not in ("allowed", "executed"))),
                ("error_rate", s.error, float(decision.outcome == "failed")),
                ("action_entropy", s.entropy, _entropy(s.recent)),
            ):
                before = stream.estimation if hasattr(stream, "estimation") else None
                stream.update(value)
                if stream.drift_detected and s.seen > self.warmup:
                    after = stream.estimation if hasattr(stream, "estimation") else value
                    if before is None or after > before:
                        found.append(
                            (name, float(after), None if before is None else float(before))
                        )
        for name, value, before in found:
            self._t.signals.emit(Signal(
                "behaviour", decision.system, "medium", name, value, before,
                feature=decision.actor,
                detail=f"{decision.actor}: {name} changed ({before} -> {value:.3g})",
            ))  # fmt: skip

    def _pace(self, s: _Streams) -> list[tuple[str, float, float | None]]:
        """Count this decision in its minute; feed each finished minute (and up to an
        hour of empty ones) to the actions-per-minute stream."""
        minute = int(self._t.clock.now().timestamp() // 60)
        found: list[tuple[str, float, float | None]] = []
        if s.minute is None:
            s.minute = minute
        if minute != s.minute:
            counts = [s.in_minute] + [0] * min(max(minute - s.minute - 1, 0), 60)
            for count in counts:
                usual = 2 ** (s.pace_sum / s.minutes) - 1 if s.minutes else None
                level = math.log2(1 + count)
                s.pace.update(level)
                s.minutes += 1
                s.pace_sum += level
                if s.pace.drift_detected and s.minutes > 10:
                    found.append(("actions_per_minute", float(count), usual))
            s.minute, s.in_minute = minute, 0
        s.in_minute += 1
        return found


def _entropy(actions: deque[str]) -> float:
    counts = Counter(actions)
    n = len(actions)
    return -sum((c / n) * math.log2(c / n) for c in counts.values()) if n else 0.0
