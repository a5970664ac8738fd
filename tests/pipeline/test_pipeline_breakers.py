"""Breakers and kill switches: shared by every process, recorded in the ledger."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tether import CircuitOpen, InvalidInput, Settings, Tether
from tether.testing import FrozenClock


def flaky_tool(gov: Tether, fail: list[bool]):  # type: ignore[no-untyped-def]
    @gov.governed("support-bot", "flaky", actor="agent:support")
    def flaky() -> str:
        if fail[0]:
            raise ConnectionError("upstream 503")
        return "ok"

    return flaky


def test_the_kill_switch_stops_the_next_action_at_once(gov: Tether) -> None:
    read = lambda: gov.decide(  # noqa: E731
        "support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"}
    )
    assert read().outcome == "allowed"
    gov.breakers.trip("agent:agent:support", actor="user:root", reason="sending spam")
    d = read()
    assert (d.outcome, d.rules) == ("circuit_open", ("breaker:agent:agent:support",))
    assert "stopped by a person (kill switch): sending spam" in d.reasons[0]
    gov.breakers.reset("agent:agent:support", actor="user:root", reason="fixed")
    assert read().outcome == "allowed"
    kinds = [e.kind for e in gov.ledger.iter_entries() if e.kind.startswith("breaker.")]
    assert kinds == ["breaker.tripped", "breaker.reset"]


def test_a_system_kill_switch_stops_every_action_of_it(gov: Tether) -> None:
    gov.breakers.trip("system:support-bot", actor="user:root", reason="incident 42")
    for action in ("read_customer", "send_email"):
        d = gov.decide("support-bot", action, actor="agent:support", inputs={})
        assert d.outcome == "circuit_open"
    assert gov.decide("loan-model", "predict", actor="svc:scoring", inputs={"income": 1.0}).allowed


def test_consecutive_failures_open_then_a_probe_closes(gov: Tether, clock: FrozenClock) -> None:
    fail = [True]
    flaky = flaky_tool(gov, fail)
    for _ in range(5):
        with pytest.raises(ConnectionError, match="upstream 503"):
            flaky()
    with pytest.raises(CircuitOpen, match="5 consecutive failures"):
        flaky()
    clock.advance(seconds=31)  # the cool-down passes: one probe may go
    fail[0] = False
    assert flaky() == "ok"
    assert gov.breakers.state("action:support-bot/flaky").state == "closed"
    reasons = [
        e.payload["reason"] for e in gov.ledger.iter_entries() if e.kind.startswith("breaker")
    ]
    assert reasons == ["5 consecutive failures", "the half-open probe call succeeded"]


def test_a_failed_probe_reopens(gov: Tether, clock: FrozenClock) -> None:
    fail = [True]
    flaky = flaky_tool(gov, fail)
    for _ in range(5):
        with pytest.raises(ConnectionError, match="upstream 503"):
            flaky()
    clock.advance(seconds=31)
    with pytest.raises(ConnectionError, match="upstream 503"):
        flaky()
    assert gov.breakers.state("action:support-bot/flaky").state == "open"
    with pytest.raises(CircuitOpen):
        flaky()


def test_breaker_state_is_shared_by_two_processes(gov: Tether, settings: Settings) -> None:
    inputs = {"to": "a@example.com"}
    assert gov.decide("support-bot", "send_email", actor="agent:support", inputs=inputs).allowed
    script = (
        "import sys\n"
        "from tether import Settings, Tether\n"
        "s = Settings(home=sys.argv[1], database_url=sys.argv[2])\n"
        "with Tether.open(s) as t:\n"
        "    key = 'action:support-bot/send_email'\n"
        "    t.breakers.trip(key, actor='user:root', reason='other process')\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(settings.home), settings.resolved_database_url()],
        check=True, timeout=120,
    )  # fmt: skip
    d = gov.decide(
        "support-bot", "send_email", actor="agent:support", inputs={"to": "a@example.com"}
    )
    assert (d.outcome, d.rules) == ("circuit_open", ("breaker:action:support-bot/send_email",))
    assert "other process" in d.reasons[0]


def test_breaker_keys_and_reasons_are_checked(gov: Tether) -> None:
    with pytest.raises(InvalidInput, match="system:NAME"):
        gov.breakers.trip("support-bot", actor="user:root", reason="x")
    with pytest.raises(InvalidInput, match="needs a reason"):
        gov.breakers.trip("system:support-bot", actor="user:root", reason="")


def test_automatic_accounting_never_undoes_a_kill_switch(gov: Tether, clock: FrozenClock) -> None:
    fail = [True]
    flaky = flaky_tool(gov, fail)
    for _ in range(5):
        with pytest.raises(ConnectionError):
            flaky()
    clock.advance(seconds=31)
    key = "action:support-bot/flaky"
    check = gov.breakers.check(["system:support-bot", key])  # this caller takes the probe
    assert check.probes == (key,)
    gov.breakers.trip(key, actor="user:root", reason="stop: leaking data")
    gov.breakers.record([key], ok=True, probes=check.probes)  # the probe succeeds late
    gov.breakers.record([key], ok=False)  # an in-flight failure
    state = gov.breakers.state(key)
    assert (state.state, state.manual, state.reason) == ("open", True, "stop: leaking data")
    clock.advance(seconds=3600)
    fail[0] = False
    with pytest.raises(CircuitOpen):
        flaky()


def test_a_probe_whose_call_does_not_run_is_given_back(gov: Tether, clock: FrozenClock) -> None:
    fail = [True]
    flaky = flaky_tool(gov, fail)
    for _ in range(5):
        with pytest.raises(ConnectionError):
            flaky()
    clock.advance(seconds=31)
    gov.breakers.trip("agent:agent:support", actor="user:root", reason="pause")  # denies next
    with pytest.raises(CircuitOpen):
        flaky()
    assert gov.breakers.state("action:support-bot/flaky").state == "open"
    gov.breakers.reset("agent:agent:support", actor="user:root", reason="go on")
    fail[0] = False
    assert flaky() == "ok"  # the probe is available again and closes the breaker
    assert gov.breakers.state("action:support-bot/flaky").state == "closed"


def test_only_people_reset_breakers(gov: Tether) -> None:
    gov.breakers.trip("system:support-bot", actor="agent:support", reason="I am looping")
    with pytest.raises(InvalidInput, match="only people may"):
        gov.breakers.reset("system:support-bot", actor="agent:support", reason="let me go")
    with pytest.raises(InvalidInput, match="not a registered, active actor"):
        gov.breakers.trip("system:support-bot", actor="user:nobody", reason="x")
