"""Results, the Guardrail contract and run_guardrails: aggregation and failing closed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.errors import InvalidInput
from tether.pipeline.guardrails import (
    AllowedValues,
    Email,
    Finding,
    GuardOutcome,
    Guardrail,
    GuardResult,
    PaymentCard,
    PythonValidator,
    Range,
    run_guardrails,
)


class _Raises(Guardrail):
    name = "raises"

    def check(self, value: Any) -> tuple[Any, GuardResult]:
        raise RuntimeError(f"boom on {value}")


class _ReturnsGarbage(Guardrail):
    name = "garbage"

    def check(self, value: Any) -> tuple[Any, GuardResult]:
        return value, "pass"  # type: ignore[return-value]


class _Upper(Guardrail):
    """Redacts by upper-casing the value's 'note' (to see the order of redactions)."""

    name = "upper"

    def check(self, value: Any) -> tuple[Any, GuardResult]:
        return {**value, "note": value["note"].upper()}, GuardResult(self.name, "redact", "upper")


def test_a_pass_has_no_reason_and_the_others_need_one() -> None:
    assert GuardResult("g", "pass").reason == ""
    with pytest.raises(InvalidInput, match="a pass needs no reason"):
        GuardResult("g", "pass", "fine")
    with pytest.raises(InvalidInput, match="a block needs a reason"):
        GuardResult("g", "block")
    with pytest.raises(InvalidInput, match="unknown outcome 'allow'"):
        GuardResult("g", "allow")  # type: ignore[arg-type]


def test_results_are_frozen() -> None:
    result = GuardResult("g", "block", "no", (Finding("args.to", "email", "email address"),))
    with pytest.raises(AttributeError):
        result.outcome = "pass"  # type: ignore[misc]
    assert result.blocked


def test_run_guardrails_runs_all_and_aggregates() -> None:
    value = {"to": "ann@example.com", "amount": 250, "env": "prod"}
    out = run_guardrails(
        [Email(), Range("amount", max=100), AllowedValues("env", ["prod"]), PaymentCard()],
        value,
    )
    assert isinstance(out, GuardOutcome)
    assert [r.outcome for r in out.results] == ["redact", "block", "pass", "pass"]
    assert out.blocked is True
    assert out.reasons == (
        "email: redacted email at to",
        "range:amount: above the maximum 100",
    )
    assert out.value == {"to": "[REDACTED:email]", "amount": 250, "env": "prod"}


def test_nothing_blocked_and_nothing_redacted() -> None:
    value = {"to": "team", "amount": 5}
    out = run_guardrails([Email(), Range("amount", max=100)], value)
    assert (out.blocked, out.reasons, out.value) == (False, (), value)
    assert out.value is value


def test_no_guardrails_pass_the_value_through() -> None:
    assert run_guardrails([], {"a": 1}) == GuardOutcome({"a": 1}, (), False, ())


def test_redactions_apply_in_order_and_later_guardrails_see_them() -> None:
    seen: list[str] = []

    def record(value: Any) -> None:
        seen.append(value["note"])

    out = run_guardrails(
        [Email(), _Upper(), PythonValidator(record)], {"note": "mail ann@example.com"}
    )
    assert seen == ["MAIL [REDACTED:EMAIL]"]
    assert out.value == {"note": "MAIL [REDACTED:EMAIL]"}


def test_a_raising_guardrail_blocks_and_the_others_still_report() -> None:
    value = {"note": "mail ann@example.com"}
    out = run_guardrails([_Raises(), Email()], value)
    assert out.blocked
    assert out.results[0] == GuardResult("raises", "block", "guardrail raised RuntimeError")
    assert out.results[1].outcome == "redact"
    assert out.value == {"note": "mail [REDACTED:email]"}
    # The exception's message quoted the value; the reason does not.
    assert all("ann@" not in r for r in out.reasons)


def test_a_guardrail_returning_garbage_blocks() -> None:
    out = run_guardrails([_ReturnsGarbage()], {"a": 1})
    assert out.results == (GuardResult("garbage", "block", "guardrail raised TypeError"),)


def test_a_nameless_guardrail_is_named_by_its_class() -> None:
    class Nameless(Guardrail):
        def check(self, value: Any) -> tuple[Any, GuardResult]:
            raise ValueError

    assert run_guardrails([Nameless()], 1).reasons == ("Nameless: guardrail raised ValueError",)


def test_run_guardrails_never_changes_the_input() -> None:
    value = {"to": ["ann@example.com", {"card": "4111 1111 1111 1111"}], "n": 4111111111111111}
    before = copy.deepcopy(value)
    out = run_guardrails([Email(), PaymentCard()], value)
    assert value == before
    assert out.value == {
        "to": ["[REDACTED:email]", {"card": "[REDACTED:payment_card]"}],
        "n": "[REDACTED:payment_card]",
    }
