"""Prometheus metrics of one app: a counter and a histogram fed by the pipeline, and
gauges read from the store when Prometheus scrapes.

Each app has its own :class:`~prometheus_client.CollectorRegistry` (never the global
one: several apps, and their tethers, live in one test process). The decision counter
is fed by a ``Pipeline.monitors`` callback, called in the thread that recorded the
decision: it only updates in-memory counters (no I/O), and holds the metrics weakly so
a discarded app does not keep them alive through the tether's pipeline.

Counters are per process: with ``tether serve --workers N`` each worker counts its own
decisions, and a scrape answers from one of them. The gauges are read from the store,
so every worker answers them alike.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as CounterMetric
from prometheus_client.core import GaugeMetricFamily, Metric

from tether.core import Tether
from tether.pipeline import Decision

__all__ = ["MAX_SERIES", "OTHER", "Metrics"]

MAX_SERIES = 1000
"""Distinct (system, action) pairs the decision counter labels by name; the rest
count under ``OTHER``. Any well-formed name is recorded (and denied) when undeclared,
so without a cap a client could grow the registry without bound."""
OTHER = "_other"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)  # fmt: skip


class Metrics:
    """The registry of one app, and the monitor that feeds it.

    Example:
        >>> from prometheus_client import generate_latest
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> m = Metrics(t)
        >>> m.observe(Decision("dec_1", "s", "a", "u", "allow", "allowed",
        ...                    latency_us={"total": 1500}))
        >>> b'tether_decisions_total{action="a",outcome="allowed",system="s"} 1.0' in (
        ...     generate_latest(m.registry))
        True
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.decisions = CounterMetric(
            "tether_decisions", "Decisions recorded by this process, by system, action and "
            "outcome.", ("system", "action", "outcome"), registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "tether_decision_latency_seconds", "Time from request to recorded decision.",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(_StoreGauges(tether))
        self._t = tether
        self._pairs: set[tuple[str, str]] = set()
        # (system, action, outcome) -> its counter child: ``labels()`` costs a lock, a
        # tuple and a dict look-up per call; the children never change once made.
        self._children: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def observe(self, d: Decision) -> None:
        """Count one recorded decision (the ``Pipeline.monitors`` callback)."""
        key = (d.system, d.action, d.outcome)
        child = self._children.get(key)
        if child is None:
            child = self._child(key)
        child.inc()
        total = d.latency_us.get("total")
        if total is not None:
            self.latency.observe(total / 1e6)

    def _child(self, key: tuple[str, str, str]) -> Any:
        system, action, outcome = key
        with self._lock:
            if (system, action) not in self._pairs:
                if len(self._pairs) >= MAX_SERIES:  # not kept: the names are the client's
                    return self.decisions.labels(OTHER, OTHER, outcome)
                self._pairs.add((system, action))
            child = self.decisions.labels(system, action, outcome)
            self._children[key] = child
            return child

    def install(self) -> Metrics:
        """Register the monitor on the tether's pipeline (once per app); return self."""
        ref = weakref.WeakMethod(self.observe)

        def monitor(d: Decision) -> None:
            observe = ref()
            if observe is not None:
                observe(d)

        self._t.pipeline.monitors.append(monitor)
        return self


class _StoreGauges:
    """Gauges computed at scrape time from the services (the store is the truth)."""

    def __init__(self, tether: Tether) -> None:
        self._t = tether

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        t = self._t
        pending, breakers, signals = self._families()
        pending.add_metric([], len(t.approvals.list(limit=1_000_000)))
        for row in t.breakers.list():
            breakers.add_metric([row.key], 0.0 if row.state == "closed" else 1.0)
        counts = Counter((s["system"], s["kind"]) for s in t.signals.active())
        for (system, kind), n in sorted(counts.items()):
            signals.add_metric([system, kind], n)
        return [pending, breakers, signals]

    @staticmethod
    def _families() -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "tether_approvals_pending", "Open approvals (pending or escalated)."
        )
        yield GaugeMetricFamily(
            "tether_breakers_open", "1 when the breaker is open or half-open, 0 when closed "
            "(every breaker that ever tripped).", labels=["key"],
        )  # fmt: skip
        yield GaugeMetricFamily(
            "tether_signals_active", "Active (not cleared) signals by system and kind.",
            labels=["system", "kind"],
        )  # fmt: skip
