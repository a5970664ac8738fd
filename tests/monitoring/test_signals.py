"""Signals: recorded once per cool-down, seen by policy, delivered without blocking."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest
from tests.pipeline.conftest import POLICY, setup_governance

from tether import InvalidInput, Tether
from tether.monitoring import Signal, WebhookSink, verify_signature
from tether.policy import Policy
from tether.testing import FrozenClock

DRIFT = Signal("drift", "support-bot", "high", "psi", 0.41, 0.12, feature="amount",
               window="2026-01-01T00", detail="income moved")  # fmt: skip


def test_a_signal_is_recorded_once_per_cool_down_unless_it_gets_worse(
    make_tether: Callable[..., Tether], clock: FrozenClock
) -> None:
    t = make_tether()
    low = Signal("drift", "support-bot", "low", "psi", 0.15, 0.12, feature="amount")
    assert t.signals.emit(low) is not None
    assert t.signals.emit(low) is None  # same condition within the cool-down
    assert t.signals.emit(DRIFT) is not None  # worse: raised again
    clock.advance(seconds=3601)
    assert t.signals.emit(DRIFT) is not None
    raised = [e for e in t.ledger.iter_entries() if e.kind == "signal.raised"]
    assert [e.payload["severity"] for e in raised] == ["low", "high", "high"]
    assert raised[0].payload["threshold"] == 0.12
    (active,) = t.signals.active("support-bot")
    assert (active["severity"], active["feature"]) == ("high", "amount")
    with pytest.raises(InvalidInput, match="kind 'weather'"):
        t.signals.emit(Signal("weather", "x", "low", "s", 1.0))  # type: ignore[arg-type]


def test_policy_sees_signals_and_acts_on_them(make_tether: Callable[..., Tether]) -> None:
    gov = setup_governance(make_tether())
    guarded = POLICY.rstrip("\n") + (
        "\n  - id: drift-needs-review\n    systems: [support-bot]\n"
        "    when: signals.drift == 'high'\n    effect: require_approval\n"
        "    approvers: {roles: [finance_lead]}\n"
    )
    gov.policies.publish(Policy.from_text(guarded, "signals.yaml"), actor="user:root")
    inputs = {"customer": "c"}
    assert gov.decide("support-bot", "read_customer", actor="agent:support", inputs=inputs).allowed
    gov.signals.emit(DRIFT)
    d = gov.decide("support-bot", "read_customer", actor="agent:support", inputs=inputs)
    assert (d.effect, d.rules) == ("require_approval", ("drift-needs-review",))
    gov.signals.clear(DRIFT, actor="user:root", reason="retrained")
    assert gov.decide("support-bot", "read_customer", actor="agent:support", inputs=inputs).allowed


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[bytes, str]]] = []
    fail: ClassVar[list[int]] = [0]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.fail[0] > 0:
            self.fail[0] -= 1
            self.send_response(503)
        else:
            self.bodies.append((body, self.headers["X-Tether-Signature"]))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.bodies = []
    _Receiver.fail = [0]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_bodies_are_signed_retried_and_dead_lettered(
    make_tether: Callable[..., Tether], receiver: str
) -> None:
    t = make_tether()
    slept: list[float] = []
    hook = WebhookSink(receiver, b"s3cret", retries=2, backoff=0.5, sleep=slept.append)
    t.signals.sinks.append(hook)
    _Receiver.fail = [2]  # two failures, then success on the last retry
    t.signals.emit(DRIFT)
    t.signals.flush()
    ((body, header),) = _Receiver.bodies
    assert verify_signature(b"s3cret", body, header)
    assert not verify_signature(b"other", body, header)
    assert slept == [0.5, 1.0]
    _Receiver.fail = [10]  # the receiver keeps failing: dead letter after the retries
    t.signals.emit(Signal("anomaly", "support-bot", "medium", "iforest", 0.9))
    t.signals.flush()
    ((signal, error),) = hook.dead_letters
    assert (signal.kind, error) == ("anomaly", "HTTP 503")


def test_a_slow_sink_never_blocks_emitting(make_tether: Callable[..., Tether]) -> None:
    t = make_tether()
    release = threading.Event()

    class Slow:
        def send(self, signal: Signal) -> None:
            release.wait(30)

    t.signals.sinks.append(Slow())  # type: ignore[arg-type]
    try:
        for feature in ("a", "b", "c"):
            signal = Signal("quality", "s", "low", "missing", 0.2, feature=feature)
            assert t.signals.emit(signal) is not None  # returns while the sink is stuck
    finally:
        release.set()
    t.signals.flush()


def test_webhook_configuration_is_checked() -> None:
    with pytest.raises(InvalidInput, match="must start with http"):
        WebhookSink("ftp://x", b"k")
    with pytest.raises(InvalidInput, match="needs a secret"):
        WebhookSink("https://x", b"")
