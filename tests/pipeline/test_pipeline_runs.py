"""Runs: sequence rules, budgets, and containment with compensation."""

from __future__ import annotations

import threading

import pytest

from tether import ActionDenied, ApprovalRequired, RunStopped, Tether


def test_after_reading_customer_data_mail_outside_needs_approval(gov: Tether) -> None:
    sent: list[str] = []

    def send(to: str, body: str) -> str:
        sent.append(to)
        return "sent"

    with gov.run("ticket", system="support-bot", actor="agent:support") as run:
        run.step("read_customer", lambda customer: {"name": "Bo"}, customer="c1")
        run.step("send_email", send, to="team@example.com", body="hi")
        with pytest.raises(ApprovalRequired) as info:
            run.step("send_email", send, to="bo@gmail.com", body="hi")
        gov.approvals.approve(info.value.approval_id, approver="user:pia", comment="asked for")
        run.step(
            "send_email", send, to="bo@gmail.com", body="hi", approval_id=info.value.approval_id
        )
    assert run.state == "completed"
    assert sent == ["team@example.com", "bo@gmail.com"]
    with gov.run("ticket", system="support-bot", actor="agent:support") as fresh:
        assert (
            fresh.step("send_email", lambda to, body: "sent", to="bo@gmail.com", body="hi")
            == "sent"
        )


def test_a_failing_step_stops_its_run_and_compensates_but_not_other_runs(gov: Tether) -> None:
    undone: list[str] = []
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def failing() -> None:
        with gov.run("refunds", system="support-bot", actor="agent:support") as run:
            run.step("read_customer", lambda customer: "c1", customer="c1",
                     compensate=lambda out: undone.append(f"read:{out}"))  # fmt: skip
            barrier.wait(timeout=30)
            try:
                run.step("flaky", _boom)
            except RunStopped as exc:
                results["failing"] = str(exc)
            with pytest.raises(RunStopped, match="is failed"):
                run.step("read_customer", lambda customer: "again", customer="c2")
        results["failing_state"] = run.state

    def healthy() -> None:
        with gov.run("refunds", system="support-bot", actor="agent:support") as run:
            run.step("read_customer", lambda customer: "c9", customer="c9")
            barrier.wait(timeout=30)
            results["healthy"] = run.step("read_customer", lambda customer: "c10", customer="c10")
        results["healthy_state"] = run.state

    threads = [threading.Thread(target=failing), threading.Thread(target=healthy)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert results["failing_state"] == "failed"
    assert "step flaky failed: RuntimeError: card network down" in str(results["failing"])
    assert undone == ["read:c1"]
    assert (results["healthy"], results["healthy_state"]) == ("c10", "completed")
    ended = [e.kind for e in gov.ledger.iter_entries() if e.kind.startswith("run.")]
    assert sorted(ended) == ["run.completed", "run.failed", "run.started", "run.started"]


def _boom() -> None:
    raise RuntimeError("card network down")


def test_budgets_stop_a_run(gov: Tether) -> None:
    with gov.run("batch", system="support-bot", actor="agent:support", max_actions=2) as run:
        run.step("read_customer", lambda customer: 1, customer="a")
        run.step("read_customer", lambda customer: 2, customer="b")
        with pytest.raises(ActionDenied, match="budget of 2 actions"):
            run.step("read_customer", lambda customer: 3, customer="c")
    assert run.state == "stopped"
    with gov.run("paid", system="support-bot", actor="agent:support", max_cost=1.0) as run:
        run.step("read_customer", lambda customer: 1, customer="a", cost=0.6)
        with pytest.raises(ActionDenied, match=r"would spend 1\.2 of 1"):
            run.step("read_customer", lambda customer: 2, customer="b", cost=0.6)


def test_registering_again_never_reactivates_an_actor(gov: Tether) -> None:
    gov.actors.deactivate("agent:support", actor="user:root", reason="prompt injection")
    gov.actors.register("agent:support", kind="agent", roles=["support"], actor="user:root",
                        attributes={"suspended": False, "note": "x"})  # fmt: skip
    d = gov.decide("support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"})
    assert d.rules == ("tether:inactive-actor",)
    gov.actors.reactivate("agent:support", actor="user:root", reason="fixed the prompt")
    assert gov.decide("support-bot", "read_customer", actor="agent:support",
                      inputs={"customer": "c"}).allowed  # fmt: skip
