"""Signals: what monitoring found, recorded, shown to policy, and sent out.

A :class:`Signal` is typed (kind, system, version, window, feature, statistic, value,
threshold, severity). :meth:`Signals.emit` records it as a ``signal.raised`` ledger
entry (its row in ``signals`` commits with it) unless the same condition was raised
within the cool-down; policy then sees ``signals.<kind>`` for the system (the highest
active severity of that kind). Sinks (a webhook, the log) get each recorded signal from
a background thread: nothing waits on them, least of all a decision.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson

from tether.errors import InvalidInput
from tether.store import signal_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = ["LogSink", "Signal", "Signals", "Sink", "WebhookSink", "verify_signature"]

log = logging.getLogger("tether.signals")

SignalKind = Literal["drift", "performance", "anomaly", "quality", "behaviour", "fairness"]
Severity = Literal["none", "low", "medium", "high"]
_KINDS = ("drift", "performance", "anomaly", "quality", "behaviour", "fairness")
_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True, slots=True)
class Signal:
    """One finding."""

    kind: SignalKind
    system: str
    severity: Severity
    statistic: str
    value: float
    threshold: float | None = None
    feature: str = ""
    window: str = ""
    version: str | None = None
    detail: str = ""

    @property
    def key(self) -> str:
        """The condition this signal is about (what de-duplication compares)."""
        return f"{self.system}|{self.kind}|{self.feature}|{self.statistic}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class Signals:
    """Emit, clear and read signals (``tether.signals``).

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> s = Signal("drift", "loan-model", "high", "psi", 0.41, 0.12, feature="income")
        >>> t.signals.emit(s) is not None, t.signals.emit(s) is None  # second: cool-down
        (True, True)
        >>> t.signals.for_policy("loan-model")["drift"]
        'high'
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self.cooldown = tether.settings.signal_cooldown
        self.sinks: list[Sink] = []
        self._last: dict[str, tuple[float, str]] = {}  # key -> (emitted at, severity)
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Signal | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    def emit(self, signal: Signal, *, actor: str = "tether:monitor") -> int | None:
        """Record ``signal``; return its ledger index, or None when the same condition
        was raised at the same or a higher severity within the cool-down.

        Raises:
            InvalidInput: an unknown kind or severity.
        """
        if signal.kind not in _KINDS:
            raise InvalidInput(f"signal kind {signal.kind!r} must be one of {', '.join(_KINDS)}")
        if signal.severity not in _RANK or signal.severity == "none":
            raise InvalidInput("a signal's severity is low, medium or high")
        now = self._t.clock.now().timestamp()
        with self._lock:
            last = self._last.get(signal.key)
            if (
                last is not None
                and now - last[0] < self.cooldown
                and (_RANK[signal.severity] <= _RANK[last[1]])
            ):
                return None
            self._last[signal.key] = (now, signal.severity)
        entry = self._t.ledger.append(
            "signal.raised", actor, signal.as_dict(), subject=f"system/{signal.system}/signal",
            mutation=repo.raise_signal(
                signal.key, signal.system, signal.kind, signal.feature, signal.statistic,
                signal.severity, signal.value, signal.threshold, now,
            ),
        )  # fmt: skip
        self._cache.pop(signal.system, None)
        if self.sinks:
            self._start()
            self._queue.put(signal)
        try:  # the closed loop: the policy's responses to this signal
            self._t.responses.on_signal(signal, entry.index)
        except Exception:  # a failing response never loses the recorded signal
            log.exception("responses to signal %s failed", signal.key)
        return entry.index

    def clear(self, signal: Signal, *, actor: str, reason: str) -> int:
        """Mark a condition as resolved (policy stops seeing it).

        Raises:
            Conflict: it is not active.
        """
        now = self._t.clock.now().timestamp()
        entry = self._t.ledger.append(
            "signal.cleared", actor, {**signal.as_dict(), "reason": reason},
            subject=f"system/{signal.system}/signal", mutation=repo.clear(signal.key, now),
        )  # fmt: skip
        with self._lock:
            self._last.pop(signal.key, None)
        self._cache.pop(signal.system, None)
        return entry.index

    def active(self, system: str | None = None) -> list[dict[str, Any]]:
        """Active signals (of one system), newest first."""
        with self._t.store.read() as conn:
            return repo.active(conn, system)

    def for_policy(self, system: str) -> dict[str, Any]:
        """What policy sees as ``signals``: per kind, the highest active severity
        (cached for ``TETHER_CACHE_SECONDS``; this process's changes show at once)."""
        now = time.monotonic()
        hit = self._cache.get(system)
        if hit is not None and now - hit[0] < self._t.settings.cache_seconds:
            return hit[1]
        view: dict[str, Any] = dict.fromkeys(_KINDS, "none")
        for row in self.active(system):
            if _RANK[row["severity"]] > _RANK[view[row["kind"]]]:
                view[row["kind"]] = row["severity"]
        self._cache[system] = (now, view)
        return view

    # -- delivery -----------------------------------------------------------------------

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued signal was handed to every sink (tests, shutdown)."""
        end = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.005)

    def close(self) -> None:
        """Stop the delivery thread after the queue drains."""
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=30)
            self._worker = None

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._deliver, name="tether-signals", daemon=True
                )
                self._worker.start()

    def _deliver(self) -> None:
        while True:
            signal = self._queue.get()
            try:
                if signal is None:
                    return
                for sink in list(self.sinks):
                    try:
                        sink.send(signal)
                    except Exception:  # a sink never breaks delivery to the others
                        log.exception("signal sink %r failed", sink)
            finally:
                self._queue.task_done()


class Sink:
    """Where signals go; ``send`` runs on the delivery thread."""

    def send(self, signal: Signal) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class LogSink(Sink):
    """Write each signal to the ``tether.signals`` logger."""

    level: int = logging.WARNING

    def send(self, signal: Signal) -> None:
        log.log(self.level, "signal %s", orjson.dumps(signal.as_dict()).decode())


@dataclass
class WebhookSink(Sink):
    """POST each signal as JSON with an HMAC-SHA256 signature.

    The body is the signal's JSON; the header ``X-Tether-Signature: sha256=<hex>`` is
    the HMAC of the body with ``secret``. Failures (connection errors, HTTP status
    >= 300) are retried ``retries`` times with exponential backoff from ``backoff``
    seconds; then the signal goes to ``dead_letters`` (and the callback, if any).
    """

    url: str
    secret: bytes
    retries: int = 4
    backoff: float = 0.5
    timeout: float = 5.0
    on_dead_letter: Callable[[Signal, str], Any] | None = None
    dead_letters: list[tuple[Signal, str]] = field(default_factory=list)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise InvalidInput(f"webhook URL {self.url!r} must start with http:// or https://")
        if not self.secret:
            raise InvalidInput("a webhook needs a secret to sign its bodies")

    def signature(self, body: bytes) -> str:
        """The header value for ``body``."""
        return "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    def send(self, signal: Signal) -> None:
        body = orjson.dumps(signal.as_dict())
        headers = {"Content-Type": "application/json", "X-Tether-Signature": self.signature(body)}
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    if response.status < 300:
                        return
                    error = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        self.dead_letters.append((signal, error))
        if self.on_dead_letter is not None:
            self.on_dead_letter(signal, error)


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """Check a webhook body against its ``X-Tether-Signature`` header (receivers)."""
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)
