"""Behaviour streams: an agent that starts getting denied raises a behaviour signal."""

from __future__ import annotations

from collections.abc import Callable

from tests.pipeline.conftest import setup_governance

from tether import Tether
from tether.monitoring import BehaviourMonitor


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
