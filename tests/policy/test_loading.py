"""Strict loading: every mistake is a load error with file:line:column and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether import InvalidInput, PolicyError
from tether.policy import Policy

BASE = """\
policy: payments
systems:
  pay-bot: {kind: agent, risk_tier: high}
schema:
  actor: {role: string}
  context:
    amount: number
    limit: number
    env: {type: string, enum: [prod, staging]}
actions:
  pay: {args: {to: string}}
  refund: {}
rules:
  - id: base
    when: actor.role == "payer"
    effect: allow
"""


def load(extra_rules: str = "", base: str = BASE) -> Policy:
    return Policy.from_text(base + extra_rules, "policy.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        Policy.from_text(text, "policy.yaml")
    assert isinstance(info.value, InvalidInput)
    return info.value.problems


def request(action: str = "pay", **context: object) -> dict[str, object]:
    return {
        "actor": {"role": "payer"},
        "system": {"name": "pay-bot"},
        "action": {"name": action, "args": {"to": "acme"}},
        "context": context,
    }


def test_a_condition_that_does_not_compile_is_a_load_error_with_its_position() -> None:
    (msg,) = problems(BASE + "  - id: bad\n    when: context.amount >* 5\n    effect: deny\n")
    assert msg.startswith("policy.yaml:18:11: rule 'bad': the condition does not compile")


def test_comparing_two_context_fields_negation_and_parentheses_work() -> None:
    p = load(
        "  - id: over-limit\n"
        "    when: context.amount > context.limit && !(context.env == 'staging')\n"
        "    effect: deny\n"
    )
    assert p.evaluate(request(amount=10**9, limit=100, env="prod")).rules == ("over-limit",)
    assert p.evaluate(request(amount=10**9, limit=100, env="staging")).effect == "allow"
    assert p.evaluate(request(amount=50, limit=100, env="prod")).effect == "allow"


def test_a_huge_amount_does_not_sail_through() -> None:
    """The peer's failure mode: an unparsed condition evaluated as false."""
    p = load("  - id: cap\n    when: context.amount > 10000.0\n    effect: deny\n")
    assert p.evaluate(request(amount=10**9, limit=0, env="prod")).effect == "deny"
    assert p.evaluate(request(amount=1e9, limit=0, env="prod")).effect == "deny"


def test_undeclared_tool_system_and_prohibited_tier_are_denied() -> None:
    p = load()
    assert p.evaluate(request(action="transfer_all")).rules == ("tether:undeclared-action",)
    other = {**request(), "system": {"name": "other-bot"}}
    assert p.evaluate(other).rules == ("tether:undeclared-system",)
    prohibited = {**request(), "system": {"name": "pay-bot", "risk_tier": "prohibited"}}
    assert p.evaluate(prohibited).rules == ("tether:prohibited-system",)
    text = BASE.replace("risk_tier: high", "risk_tier: prohibited")
    assert load(base=text).evaluate(request()).rules == ("tether:prohibited-system",)


def test_a_declared_action_no_rule_permits_is_denied() -> None:
    p = load(base=BASE.replace("    when: actor.role", "    actions: [pay]\n    when: actor.role"))
    verdict = p.evaluate(request(action="refund"))
    assert (verdict.effect, verdict.rules) == ("deny", ("tether:default-deny",))


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            "  - id: x\n    efect: deny\n",
            "policy.yaml:18:5: unknown key 'efect' (did you mean 'effect'?)",
        ),
        ("  - id: x\n    effect: permit\n", "policy.yaml:18:13: rules.1.effect: Input should be"),
        (
            "  - id: x\n    effect: deny\n    when: 5\n",
            "policy.yaml:19:11: rules.1.when: Input should be a valid string",
        ),
        ("  - id: base\n    effect: deny\n", "policy.yaml:17:9: duplicate rule id 'base'"),
        (
            "  - id: x\n    actions: [payy]\n    effect: deny\n",
            "policy.yaml:18:15: rule 'x' names action 'payy', which is not declared "
            "(did you mean 'pay'?)",
        ),
        (
            "  - id: x\n    when: context.amout > 5\n    effect: deny\n",
            "policy.yaml:18:11: rule 'x': context has no declared field 'amout' "
            "(did you mean 'amount'?)",
        ),
        (
            "  - id: x\n    when: contxt.amount > 5\n    effect: deny\n",
            "policy.yaml:18:11: rule 'x': unknown variable 'contxt' (did you mean 'context'?)",
        ),
        (
            "  - id: x\n    when: context.env == 'prdo'\n    effect: deny\n",
            "policy.yaml:18:11: rule 'x' can never match: context.env can never be 'prdo' "
            "(did you mean 'prod'?)",
        ),
        (
            "  - id: x\n    when: context.amount == 'high'\n    effect: deny\n",
            "policy.yaml:18:11: rule 'x' can never match: context.amount is declared number",
        ),
        (
            "  - id: x\n    when: context.amount > 'a'\n    effect: deny\n",
            "policy.yaml:18:11: rule 'x' can never match given the declared types: "
            "No such overload",
        ),
        (
            "  - id: x\n    when: context.amount + 1\n    effect: deny\n",
            "policy.yaml:18:11: rule 'x' can never match given the declared types: "
            "the condition gives a value of type int",
        ),
        (
            "  - id: x\n    effect: allow\n    approvers: {roles: [lead]}\n",
            "policy.yaml:17:5: rules.1: approvers only apply to effect: require_approval",
        ),
        (
            "  - id: x\n    effect: require_approval\n    timeout: 4 hours\n",
            "policy.yaml:19:14: rules.1.timeout: '4 hours' is not a duration",
        ),
        (
            "  - id: x\n    effect: require_approval\n    escalate_to: {roles: [cfo]}\n",
            "policy.yaml:17:5: rules.1: escalate_to needs a timeout",
        ),
        (
            "  - id: x\n    effect: deny\n    effect: allow\n",
            "policy.yaml:19:5: duplicate key 'effect' (the first one is at line 18); keep one",
        ),
        ("  - id: x\n    effect: [deny\n", "policy.yaml:19:1: not valid YAML"),
    ],
)
def test_load_errors_name_the_place_and_the_fix(snippet: str, expected: str) -> None:
    found = problems(BASE + snippet)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        BASE
        + "  - id: a\n    when: context.nope\n    effect: deny\n"
        + "  - id: b\n    when: ')'\n    effect: deny\n"
    )
    assert [p.split(": rule ")[1][:3] for p in found] == ["'a'", "'b'"]


def test_missing_sections_and_non_mapping_documents() -> None:
    assert problems("policy: p\n") == [
        "policy.yaml:1:1: missing required key 'systems'",
        "policy.yaml:1:1: missing required key 'actions'",
        "policy.yaml:1:1: missing required key 'rules'",
    ]
    assert problems("- a\n- b\n")[0].startswith("policy.yaml:1:1: a policy file is a mapping")


def test_from_file_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file"):
        Policy.from_file(tmp_path / "nope.yaml")
    path = tmp_path / "p.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert Policy.from_file(path).name == "payments"


def test_a_missing_field_at_run_time_fails_closed() -> None:
    p = load("  - id: cap\n    when: context.amount > 100\n    effect: deny\n")
    verdict = p.evaluate(request())  # no amount in the context
    assert verdict.effect == "deny"
    assert verdict.rules == ("tether:evaluation-error",)
    assert verdict.errors == ("rule cap: no value for field 'amount' (context.amount > 100)",)


def test_has_lets_a_rule_read_an_optional_field() -> None:
    p = load(
        "  - id: cap\n    when: has(context.amount) && context.amount > 100\n    effect: deny\n"
    )
    assert p.evaluate(request()).effect == "allow"
    assert p.evaluate(request(amount=101)).effect == "deny"


def test_a_request_without_names_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"system\.name and action\.name"):
        load().evaluate({"actor": {}})


def test_a_loop_variable_may_not_hide_a_root_variable() -> None:
    (msg,) = problems(
        BASE + "  - id: x\n    when: run.actions.exists(action, action.name == 'pay')\n"
        "    effect: deny\n"
    )
    assert "the loop variable 'action' hides the variable of that name" in msg


@pytest.mark.parametrize(
    "when",
    [
        """'action.args.to == r"\\" || "context.amount" == action.args.to'""",
        """'action.args.to == "a\\\\" || context.amount > 5.0'""",
        "context.amount > 5.0 // context.limit is not read",
        '\'action.args.to == """context.limit""" || context.amount > context.limit\'',
    ],
)
def test_flattening_never_changes_what_a_condition_means(when: str) -> None:
    p = load(f"  - id: x\n    when: {when}\n    effect: deny\n")
    rule = next(r for r in p.rules if r.id == "x")
    for amount in (1.0, 10.0):
        for to in ("acme", "context.amount", "context.limit", "\\", "a\\"):
            req = {
                **request(amount=amount, limit=7.0),
                "action": {"name": "pay", "args": {"to": to}},
            }
            own = rule.program.execute({"context": req["context"], "action": req["action"]})
            assert ("x" in p.evaluate(req).matched) == own, (when, amount, to)


def test_nested_aliases_cannot_blow_up_loading() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    (msg,) = problems("\n".join(lines) + "\n")
    assert "expands to more than 200,000 values" in msg
