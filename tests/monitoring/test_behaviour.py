"""Behaviour streams: an agent that starts getting denied raises a behaviour signal."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tests.pipeline.conftest import setup_governance

from tether import Tether
from tether.monitoring import BehaviourMonitor
from tether.testing import FrozenClock


def test_a_rising_deny_rate_raises_a_behaviour_signal(make_tether: Callable[..., Tether]) -> None:
    gov = setup_governance(make_tether())
    BehaviourMonitor.attach(gov)
    for _ in range(300):  # normal work: allowed reads
        gov.decide("support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"})
    assert gov.signals.active("support-bot") == []
    for _ in range(200):  # the agent starts trying what it may not do
        gov.decide("support-bot", "transfer_all", actor="agent:support")
    found = {(s["kind"], s["statistic"], s["feature"]) for s in gov.signals.active("support-bot")}
    assert ("behaviour", "deny_rate", "agent:support") in found
    assert gov.signals.for_policy("support-bot")["behaviour"] == "medium"


def test_a_monitor_failure_never_breaks_a_decision(make_tether: Callable[..., Tether]) -> None:
    gov = setup_governance(make_tether())

    def broken(decision: object) -> None:
        raise RuntimeError("monitor bug")

    gov.pipeline.monitors.append(broken)
    d = gov.decide("support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"})
    assert d.allowed


def test_a_jump_in_actions_per_minute_raises_a_behaviour_signal(
    make_tether: Callable[..., Tether], clock: FrozenClock
) -> None:
    gov = setup_governance(make_tether())
    BehaviourMonitor.attach(gov)
    rng = np.random.default_rng(3)

    def minutes(n: int, rate: float) -> None:
        for _ in range(n):
            for _ in range(int(rng.poisson(rate))):
                gov.decide("support-bot", "read_customer", actor="agent:support",
                           inputs={"customer": "c"})  # fmt: skip
            clock.advance(minutes=1)

    minutes(30, 6.0)  # the usual pace, with Poisson noise
    assert gov.signals.active("support-bot") == []
    minutes(6, 40.0)  # a runaway loop
    found = [s for s in gov.signals.active("support-bot") if s["statistic"] == "actions_per_minute"]
    assert len(found) == 1
    assert found[0]["feature"] == "agent:support"
    assert found[0]["value"] >= 25
    assert found[0]["threshold"] < 8
