"""JsonSchema and PythonValidator."""

from __future__ import annotations

from typing import Any

import pytest

from tether.errors import InvalidInput
from tether.pipeline.guardrails import Finding, GuardResult, JsonSchema, PythonValidator

SEND_EMAIL = {
    "type": "object",
    "required": ["to", "body"],
    "additionalProperties": False,
    "properties": {
        "to": {"type": "string", "format": "email"},
        "body": {"type": "string", "maxLength": 20},
        "priority": {"enum": ["low", "high"]},
        "attachments": {"type": "array", "items": {"type": "object", "required": ["name"]}},
    },
}


# --- JsonSchema ------------------------------------------------------------------------


def test_a_valid_value_passes_unchanged() -> None:
    value = {"to": "ann@example.com", "body": "hi", "attachments": [{"name": "a.pdf"}]}
    out, result = JsonSchema(SEND_EMAIL).check(value)
    assert out is value
    assert result == GuardResult("json_schema", "pass")


def test_each_violation_is_a_finding_at_its_path() -> None:
    value = {"to": "not-an-email", "body": "x" * 30, "attachments": [{}, {"name": 1}], "cc": 1}
    _, result = JsonSchema(SEND_EMAIL, name="send_email_args").check(value)
    assert result.guardrail == "send_email_args"
    assert result.outcome == "block"
    assert result.findings == (
        Finding("", "schema", "Additional properties are not allowed ('cc' was unexpected)"),
        Finding("attachments[0]", "schema", "'name' is a required property"),
        Finding("body", "schema", "violates maxLength: 20"),
        Finding("to", "schema", 'violates format: "email"'),
    )
    assert result.reason == (
        "4 schema violations; first at the root: "
        "Additional properties are not allowed ('cc' was unexpected)"
    )


def test_schema_findings_never_quote_the_value() -> None:
    secret = "4111 1111 1111 1111"
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "e": {"enum": [1]}}}
    _, result = JsonSchema(schema).check({"n": secret, "e": secret})
    assert [f.detail for f in result.findings] == ["violates enum: [1]", 'violates type: "integer"']
    assert secret not in repr(result)


def test_the_false_schema_and_long_schema_values() -> None:
    _, result = JsonSchema({"properties": {"x": False}}).check({"x": "secret"})
    # jsonschema reports no path for a false subschema, and its message quotes the value.
    assert result.findings == (Finding("", "schema", "not allowed by the schema"),)
    _, result = JsonSchema({"enum": [f"value-{i}" for i in range(20)]}).check("z")
    assert result.findings[0].detail.endswith("...")
    assert len(result.findings[0].detail) <= len("violates enum: ") + 60


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "strin"}, "invalid schema at type: .*; did you mean 'string'\\?"),
        ({"properties": {"a": {"minimum": "3"}}}, "invalid schema at properties.a.minimum"),
        ({"required": "to"}, "invalid schema at required"),
    ],
)
def test_an_invalid_schema_is_refused_at_construction(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        JsonSchema(schema)


def test_a_schema_must_be_a_mapping() -> None:
    with pytest.raises(InvalidInput, match="a schema is a mapping, got list"):
        JsonSchema([])  # type: ignore[arg-type]


# --- PythonValidator -------------------------------------------------------------------


def _verdict(answer: object) -> GuardResult:
    def decide(value: Any) -> object:
        return answer

    return PythonValidator(decide).check({"a": 1})[1]


def test_none_and_true_pass() -> None:
    assert _verdict(None) == GuardResult("decide", "pass")
    assert _verdict(True) == GuardResult("decide", "pass")


def test_false_and_strings_block() -> None:
    assert _verdict(False) == GuardResult("decide", "block", "rejected by decide")
    assert _verdict("") == GuardResult("decide", "block", "rejected by decide")
    assert _verdict("too late in the day") == GuardResult("decide", "block", "too late in the day")


def test_a_guard_result_is_taken_and_renamed() -> None:
    finding = Finding("a", "custom", "odd")
    assert _verdict(GuardResult("inner", "block", "odd", (finding,))) == GuardResult(
        "decide", "block", "odd", (finding,)
    )
    assert _verdict(GuardResult("inner", "pass")) == GuardResult("decide", "pass")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (1, "validator returned int"),
        (0, "validator returned int"),
        ([], "validator returned list"),
        (GuardResult("x", "redact", "r"), "validator returned a redact result; it cannot redact"),
    ],
)
def test_anything_else_fails_closed(answer: object, reason: str) -> None:
    assert _verdict(answer) == GuardResult("decide", "block", reason)


def test_a_raising_validator_blocks_and_names_only_the_exception_type() -> None:
    def nosy(value: Any) -> bool:
        raise ValueError(f"bad card {value['card']}")

    value = {"card": "4111 1111 1111 1111"}
    out, result = PythonValidator(nosy, name="nosy_check").check(value)
    assert out is value
    assert result == GuardResult("nosy_check", "block", "validator raised ValueError")


def test_an_awaitable_answer_is_closed_and_blocks() -> None:
    async def later() -> None:
        return None

    class Sneaky:
        """Not a coroutine function, yet returns a coroutine."""

        def __call__(self, value: Any) -> object:
            return later()

    assert PythonValidator(Sneaky()).check(1)[1] == GuardResult(
        "python", "block", "validator returned coroutine"
    )


def test_python_validator_refuses_what_it_cannot_run() -> None:
    async def check(value: Any) -> bool:
        return True

    with pytest.raises(InvalidInput, match="async functions are not supported"):
        PythonValidator(check)
    with pytest.raises(InvalidInput, match="needs a callable, got str"):
        PythonValidator("len")  # type: ignore[arg-type]


def test_a_lambda_is_named_python() -> None:
    assert PythonValidator(lambda v: None).name == "python"
