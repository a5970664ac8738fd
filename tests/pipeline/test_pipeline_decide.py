"""The pipeline decides, guards, executes and records every action."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from tether import (
    ActionDenied,
    ApprovalRequired,
    GuardrailBlocked,
    InvalidInput,
    RateLimited,
    Tether,
)
from tether.ledger import verify_ledger
from tether.pipeline import Decision
from tether.pipeline.guardrails import Email, PaymentCard, Range
from tether.testing import FrozenClock


def test_an_allowed_decision_is_recorded_with_its_rules_and_policy_version(gov: Tether) -> None:
    d = gov.decide("support-bot", "read_customer", actor="agent:support", inputs={"customer": "c1"})
    assert (d.effect, d.outcome, d.rules, d.policy_version) == (
        "allow", "allowed", ("support-may-act",), 1,
    )  # fmt: skip
    entry = gov.ledger.get(d.ledger_index)
    assert entry.kind == "decision"
    assert entry.actor == "agent:support"
    assert entry.payload["id"] == d.id
    assert entry.payload["rules"] == ["support-may-act"]
    assert entry.payload["inputs"] == {"customer": "c1"}
    assert entry.payload["policy"] == 1
    assert set(entry.payload["latency_us"]) >= {"identify", "breaker", "policy"}


@pytest.mark.parametrize(
    ("system", "action", "actor", "rule"),
    [
        ("support-bot", "transfer_all", "agent:support", "tether:undeclared-action"),
        ("shadow-it", "read_customer", "agent:support", "tether:undeclared-system"),
        ("support-bot", "read_customer", "agent:nobody", "tether:unknown-actor"),
        ("support-bot", "read_customer", "agent:rogue", "suspended"),
        ("loan-model", "read_customer", "agent:support", "tether:default-deny"),
    ],
)
def test_denials_are_recorded_and_raise_when_asked(
    gov: Tether, system: str, action: str, actor: str, rule: str
) -> None:
    d = gov.decide(system, action, actor=actor, inputs={"customer": "c1"})
    assert (d.effect, d.outcome, d.rules) == ("deny", "denied", (rule,))
    assert gov.ledger.get(d.ledger_index).payload["outcome"] == "denied"
    with pytest.raises(ActionDenied) as info:
        gov.decide(system, action, actor=actor, inputs={"customer": "c1"}, raise_on_denial=True)
    assert info.value.decision.rules == (rule,)


def test_comparing_two_fields_and_a_huge_amount(gov: Tether) -> None:
    d = gov.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 10**9},
                   context={"limit": 5000})  # fmt: skip
    assert d.rules == ("huge-refund",)


def test_without_a_published_policy_everything_is_denied(make_tether) -> None:  # type: ignore[no-untyped-def]
    t = make_tether()
    t.actors.register("agent:a", kind="agent", actor="admin")
    d = t.decide("any", "thing", actor="agent:a")
    assert (d.outcome, d.rules) == ("denied", ("tether:no-policy",))


def test_an_internal_error_fails_closed(gov: Tether, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("policy store unreachable")

    monkeypatch.setattr(gov.policies, "enforced", broken)
    d = gov.decide("support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"})
    assert (d.effect, d.outcome, d.rules) == ("deny", "denied", ("tether:internal-error",))
    assert "policy store unreachable" in d.reasons[0]


def test_a_governed_function_runs_only_when_allowed(gov: Tether) -> None:
    calls: list[str] = []

    @gov.governed("support-bot", actor="agent:support")
    def read_customer(customer: str) -> dict[str, str]:
        calls.append(customer)
        return {"customer": customer, "tier": "gold"}

    @gov.governed("support-bot", "transfer_all", actor="agent:support")
    def transfer_all() -> None:
        calls.append("transfer")

    assert read_customer("c7") == {"customer": "c7", "tier": "gold"}
    with pytest.raises(ActionDenied, match="not declared"):
        transfer_all()
    assert calls == ["c7"]
    decisions = [e for e in gov.ledger.iter_entries() if e.kind == "decision"]
    assert [(e.payload["action"], e.payload["outcome"]) for e in decisions] == [
        ("read_customer", "executed"), ("transfer_all", "denied"),
    ]  # fmt: skip
    assert decisions[0].payload["output_digest"].startswith("sha256:")


def test_a_blocked_output_never_reaches_the_caller(gov: Tether) -> None:
    @gov.governed("support-bot", "read_customer", actor="agent:support",
                  output_guardrails=[PaymentCard(action="block")])  # fmt: skip
    def leaky(customer: str) -> str:
        return f"{customer} pays with 4111 1111 1111 1111"

    with pytest.raises(GuardrailBlocked) as info:
        leaky("c1")
    assert info.value.decision.output is None
    entry = gov.ledger.get(info.value.decision.ledger_index)
    assert entry.payload["outcome"] == "blocked"
    assert "4111" not in entry.raw.decode()


def test_input_guardrails_redact_before_the_tool_and_the_record(gov: Tether) -> None:
    seen: list[str] = []

    @gov.governed("support-bot", "send_email", actor="agent:support",
                  input_guardrails=[Email(action="redact")])  # fmt: skip
    def send_email(to: str, body: str) -> str:
        seen.append(body)
        return "sent"

    assert send_email("a@example.com", body="write to bob@corp.org") == "sent"
    assert seen == ["write to [REDACTED:email]"]  # what a guardrail removed never reaches it
    d = [e for e in gov.ledger.iter_entries() if e.kind == "decision"][-1]
    assert "bob@corp.org" not in d.raw.decode()
    assert "bob@corp.org" not in str(d.payload)


def test_an_input_guardrail_block_stops_the_action(gov: Tether) -> None:
    d = gov.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 20.0},
                   context={"limit": 100}, input_guardrails=[Range("amount", max=10)])  # fmt: skip
    assert (d.effect, d.outcome) == ("deny", "blocked")


def test_require_approval_raises_with_the_approval_id(gov: Tether) -> None:
    @gov.governed("support-bot", "refund", actor="agent:support", context={"limit": 10**6})
    def refund(amount: float) -> str:
        return "refunded"

    with pytest.raises(ApprovalRequired) as info:
        refund(5000.0)
    approval = gov.approvals.get(info.value.approval_id)
    assert (approval.state, approval.requester, approval.action) == (
        "pending",
        "agent:support",
        "refund",
    )


def test_async_governed_functions_are_awaited_in_the_callers_loop(gov: Tether) -> None:
    @gov.governed("support-bot", actor="agent:support")
    async def read_customer(customer: str) -> str:
        await asyncio.sleep(0)
        return f"loop:{asyncio.get_running_loop() is loop_seen[0]}"

    loop_seen: list[asyncio.AbstractEventLoop] = []

    async def main() -> list[str]:
        loop_seen.append(asyncio.get_running_loop())
        return list(await asyncio.gather(*(read_customer(f"c{i}") for i in range(5))))

    assert asyncio.run(main()) == ["loop:True"] * 5


def test_a_governed_function_needs_an_actor(gov: Tether) -> None:
    @gov.governed("support-bot", "read_customer")
    def anonymous(customer: str) -> None:
        return None

    with pytest.raises(InvalidInput, match="say who acts"):
        anonymous("c")
    assert anonymous("c", _actor="agent:support") is None


def test_the_ledger_verifies_after_the_scenarios(gov: Tether) -> None:
    gov.decide("support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"})
    gov.decide("support-bot", "drop", actor="agent:support")
    assert verify_ledger(gov.store, gov.ledger.verifier).ok


def test_a_shadow_policy_is_evaluated_and_recorded_beside_the_enforced_one(gov: Tether) -> None:
    from tests.pipeline.conftest import POLICY

    from tether.policy import Policy

    stricter = POLICY.replace("amount > 1000", "amount > 10")
    gov.policies.publish(
        Policy.from_text(stricter, "candidate.yaml"), actor="user:root", mode="shadow"
    )
    d = gov.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 50.0},
                   context={"limit": 5000})  # fmt: skip
    assert (d.effect, d.policy_version) == ("allow", 1)  # the enforced policy decides
    assert d.shadow == {"version": 2, "effect": "require_approval", "rules": ["big-refund"]}
    assert gov.ledger.get(d.ledger_index).payload["shadow"] == d.shadow
    gov.policies.clear_shadow(actor="user:root")
    again = gov.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 50.0},
                       context={"limit": 5000})  # fmt: skip
    assert again.shadow is None


def test_tether_open_is_the_sdk_front_door(gov: Tether) -> None:
    import tether

    with tether.open(gov.settings) as t:
        assert t.decide("support-bot", "read_customer", actor="agent:support",
                        inputs={"customer": "c"}).allowed  # fmt: skip


def test_decide_async_shares_commits_between_tasks(gov: Tether) -> None:
    async def main() -> list[str]:
        decisions = await asyncio.gather(*(
            gov.pipeline.decide_async("support-bot", "read_customer", actor="agent:support",
                                      inputs={"customer": f"c{i}"})
            for i in range(20)
        ))  # fmt: skip
        return [d.outcome for d in decisions]

    assert asyncio.run(main()) == ["allowed"] * 20
    recorded = [e for e in gov.ledger.iter_entries() if e.kind == "decision"]
    assert sorted(e.payload["inputs"]["customer"] for e in recorded) == sorted(
        f"c{i}" for i in range(20)
    )


def test_guardrails_declared_in_the_policy_file_run_on_every_call(gov: Tether) -> None:
    from tests.pipeline.conftest import POLICY

    from tether.policy import Policy

    text = POLICY.replace(
        "  send_email: {args: {to: string, body: string}}",
        "  send_email:\n"
        "    args: {to: string, body: string}\n"
        "    guardrails:\n"
        "      input: [{type: pii, detectors: [payment_card], action: redact}]\n"
        "      output: [{type: regex, path: status, pattern: '^sent$', mode: require}]\n",
    )
    gov.policies.publish(Policy.from_text(text, "guarded.yaml"), actor="user:root")
    seen: list[str] = []

    @gov.governed("support-bot", "send_email", actor="agent:support")
    def send_email(to: str, body: str) -> dict[str, str]:
        seen.append(body)
        return {"status": "sent" if "ok" in body else "queued"}

    assert send_email("a@example.com", "ok, card 4111 1111 1111 1111") == {"status": "sent"}
    assert seen == ["ok, card [REDACTED:payment_card]"]
    with pytest.raises(GuardrailBlocked):
        send_email("a@example.com", "later")


def test_a_bad_guardrail_spec_is_a_load_error_with_its_position() -> None:
    from tests.pipeline.conftest import POLICY

    from tether import PolicyError
    from tether.policy import Policy

    text = POLICY.replace(
        "  flaky: {}", "  flaky:\n    guardrails:\n      input: [{type: regex, path: x, patern: a}]"
    )
    with pytest.raises(PolicyError, match=r"guarded\.yaml:\d+:\d+: regex guardrail: unknown key"):
        Policy.from_text(text, "guarded.yaml")


def test_inputs_that_are_not_plain_json_are_recorded_converted(gov: Tether) -> None:
    class Customer:
        def __repr__(self) -> str:
            return "Customer(c9)"

    d = gov.decide("support-bot", "read_customer", actor="agent:support",
                   inputs={"customer": "c9", "tags": ("vip", "eu"), "obj": Customer()})  # fmt: skip
    assert gov.ledger.get(d.ledger_index).payload["inputs"] == {
        "customer": "c9", "tags": ["vip", "eu"], "obj": "Customer(c9)",
    }  # fmt: skip


def test_a_rate_limit_obligation_is_a_token_bucket_on_the_tethers_clock(
    make_tether: Callable[..., Tether], clock: FrozenClock
) -> None:
    from tests.pipeline.conftest import POLICY, setup_governance

    from tether.policy import Policy

    gov = setup_governance(make_tether())
    limited = POLICY.replace(
        "    effect: allow\n  - id: model-predicts",
        "    effect: allow\n"
        "    rate_limit: {rate: 2, period: 1m, per: actor}\n"
        "  - id: model-predicts",
    )
    gov.policies.publish(Policy.from_text(limited, "limited.yaml"), actor="user:root")

    def read() -> str:
        d = gov.decide(
            "support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"}
        )
        return d.outcome

    assert [read(), read(), read()] == ["allowed", "allowed", "rate_limited"]
    with pytest.raises(RateLimited, match=r"retry in 30\.0 s") as info:
        gov.decide("support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"},
                   raise_on_denial=True)  # fmt: skip
    assert info.value.retry_after == 30.0
    clock.advance(seconds=30)
    assert read() == "allowed"


def test_a_timeout_fails_the_action_and_reaches_the_caller(gov: Tether) -> None:
    release = threading.Event()

    @gov.governed("support-bot", "read_customer", actor="agent:support", timeout=0.05)
    def slow(customer: str) -> str:
        release.wait(30)
        return "late"

    try:
        with pytest.raises(TimeoutError, match=r"timed out after 0\.05 s"):
            slow("c1")
    finally:
        release.set()
    last = [e for e in gov.ledger.iter_entries() if e.kind == "decision"][-1]
    assert (last.payload["outcome"], last.payload["error"]) == ("failed", "timed out after 0.05 s")


def test_the_caller_reports_the_outcome_of_an_action_it_ran(gov: Tether) -> None:
    d = gov.decide("support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"})
    index = gov.pipeline.record_outcome(d, output={"tier": "gold"}, actor="agent:support")
    entry = gov.ledger.get(index)
    assert (entry.kind, entry.payload["decision"], entry.payload["status"]) == (
        "decision.outcome", d.id, "executed",
    )  # fmt: skip
    denied = gov.decide("support-bot", "nope", actor="agent:support")
    with pytest.raises(InvalidInput, match="it did not run"):
        gov.pipeline.record_outcome(denied, actor="agent:support")


def test_a_functions_own_timeout_error_is_recorded_and_reraised(gov: Tether) -> None:
    @gov.governed("support-bot", "read_customer", actor="agent:support")
    def flaky(customer: str) -> str:
        raise TimeoutError("upstream socket timed out")

    with pytest.raises(TimeoutError, match="upstream socket"):
        flaky("c")
    last = [e for e in gov.ledger.iter_entries() if e.kind == "decision"][-1]
    assert last.payload["error"] == "TimeoutError: upstream socket timed out"


def test_inputs_json_cannot_hold_are_recorded_as_text_not_lost(gov: Tether) -> None:
    ran: list[int] = []

    @gov.governed("support-bot", "read_customer", actor="agent:support")
    def read(customer: int) -> str:
        ran.append(customer)
        return "ok"

    assert read(2**63) == "ok"
    last = [e for e in gov.ledger.iter_entries() if e.kind == "decision"][-1]
    assert last.payload["inputs"] == {"customer": str(2**63)}
    assert ran == [2**63]


def test_a_call_cannot_change_the_actor_or_context_the_decorator_fixed(gov: Tether) -> None:
    @gov.governed("support-bot", "read_customer", actor="agent:support", context={"limit": 1})
    def read(customer: str) -> str:
        return "ok"

    with pytest.raises(InvalidInput, match="actor is fixed"):
        read("c", _actor="user:root")
    with pytest.raises(InvalidInput, match="context is fixed"):
        read("c", _context={"limit": 10**9})


def test_a_denied_attempt_is_recorded_with_the_same_redactions(gov: Tether) -> None:
    from tests.pipeline.conftest import POLICY

    from tether.policy import Policy

    text = POLICY.replace(
        "    effect: allow\n  - id: model-predicts",
        "    effect: allow\n    redact: [action.args.customer]\n  - id: model-predicts",
    )
    gov.policies.publish(Policy.from_text(text, "redact.yaml"), actor="user:root")
    d = gov.decide("support-bot", "read_customer", actor="agent:rogue", inputs={"customer": "c9"})
    assert d.outcome == "denied"
    assert gov.ledger.get(d.ledger_index).payload["inputs"] == {"customer": "[REDACTED]"}


def test_a_broken_shadow_policy_never_decides_live_traffic(
    gov: Tether, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.pipeline.conftest import POLICY

    from tether.policy import Policy

    gov.policies.publish(Policy.from_text(POLICY, "s.yaml"), actor="user:root", mode="shadow")
    shadow = gov.policies.shadow()
    assert shadow is not None

    def boom(request: object) -> None:
        raise RuntimeError("candidate exploded")

    monkeypatch.setattr(shadow.policy, "evaluate", boom)
    d = gov.decide("support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"})
    assert d.outcome == "allowed"
    assert d.shadow == {"version": 2, "error": "candidate exploded"}


def test_tether_settings_opens_an_initialised_tether(gov: Tether) -> None:
    with Tether(gov.settings) as t:
        assert t.ledger.size == gov.ledger.size


def test_a_shared_rate_limit_is_one_bucket_for_every_process(
    make_tether: Callable[..., Tether], clock: FrozenClock
) -> None:
    from tests.pipeline.conftest import POLICY, setup_governance

    from tether.policy import Policy

    first = setup_governance(make_tether())
    limited = POLICY.replace(
        "    effect: allow\n  - id: model-predicts",
        "    effect: allow\n"
        "    rate_limit: {rate: 3, period: 1m, per: actor, scope: shared}\n"
        "  - id: model-predicts",
    )
    first.policies.publish(Policy.from_text(limited, "shared.yaml"), actor="user:root")
    second = Tether.open(first.settings, clock=clock)  # another process's tether
    try:
        outcomes = [
            t.decide("support-bot", "read_customer", actor="agent:support",
                     inputs={"customer": "c"}).outcome
            for t in (first, second, first, second)
        ]  # fmt: skip
        assert outcomes == ["allowed", "allowed", "allowed", "rate_limited"]
        clock.advance(seconds=20)  # one token back (3 a minute)
        assert second.decide("support-bot", "read_customer", actor="agent:support",
                             inputs={"customer": "c"}).outcome == "allowed"  # fmt: skip
    finally:
        second.close()


def test_a_failing_monitor_is_reported_once_and_never_breaks_decisions(
    gov: Tether, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken(d: Decision) -> None:
        raise RuntimeError("exporter down")

    gov.pipeline.monitors.extend([broken, lambda d: seen.append(d.id)])
    with caplog.at_level("WARNING", logger="tether.pipeline"):
        made = [gov.decide("support-bot", "read_customer", actor="agent:support",
                           inputs={"customer": "c1"}) for _ in range(3)]  # fmt: skip
    assert [d.outcome for d in made] == ["allowed"] * 3
    assert seen == [d.id for d in made]  # the monitor after the broken one still ran
    failures = [r for r in caplog.records if "decision monitor" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
