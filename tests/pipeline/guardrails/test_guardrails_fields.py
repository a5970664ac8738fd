"""Range, AllowedValues, Regex and the paths they read."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.errors import InvalidInput
from tether.pipeline.guardrails import AllowedValues, Finding, GuardResult, Range, Regex
from tether.pipeline.guardrails._paths import MISSING, format_path, lookup, parse_path


def _reason(guardrail: Any, value: Any) -> str:
    result: GuardResult = guardrail.check(value)[1]
    return result.reason


# --- paths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("", ()),
        ("args", ("args",)),
        ("args.amount", ("args", "amount")),
        ("items[2].email", ("items", 2, "email")),
        ('headers["X Key"].v', ("headers", "X Key", "v")),
        ("[0][1]", (0, 1)),
        ("a.b-c._d", ("a", "b-c", "_d")),
    ],
)
def test_paths_parse_and_format_back(path: str, parts: tuple[Any, ...]) -> None:
    assert parse_path(path) == parts
    assert format_path(parts) == path


@pytest.mark.parametrize("path", ["args.", ".args", "a..b", "a[-1]", "a[01]", "a[x]", "a b", "1a"])
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput, match="invalid path"):
        parse_path(path)


@given(st.lists(st.one_of(st.text(max_size=8), st.integers(0, 99)), max_size=5))
def test_format_then_parse_is_the_identity(parts: list[Any]) -> None:
    assert parse_path(format_path(parts)) == tuple(parts)


def test_lookup_follows_keys_and_indexes() -> None:
    value = {"args": {"to": ["a", {"b": 1}]}}
    assert lookup(value, ("args", "to", 1, "b")) == 1
    assert lookup(value, ("args", "to", 2)) is MISSING
    assert lookup(value, ("args", "to", "x")) is MISSING
    assert lookup(value, ("args", 0)) is MISSING
    assert lookup("text", ()) == "text"


# --- Range -----------------------------------------------------------------------


def test_range_bounds_are_inclusive() -> None:
    cap = Range("args.amount", min=0, max=100)
    for ok in (0, 100, 50.5, Decimal("99.99")):
        assert cap.check({"args": {"amount": ok}})[1].outcome == "pass"
    assert _reason(cap, {"args": {"amount": -1}}) == "below the minimum 0"
    assert _reason(cap, {"args": {"amount": 100.01}}) == "above the maximum 100"


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        (True, "not a number (bool)"),
        ("5", "not a number (str)"),
        (None, "not a number (NoneType)"),
        ([1], "not a number (list)"),
        (math.nan, "not a number (NaN)"),
        (Decimal("NaN"), "not a number (NaN)"),
        (Decimal("sNaN"), "not a number (NaN)"),
    ],
)
def test_range_blocks_what_is_not_a_number(field: Any, reason: str) -> None:
    assert _reason(Range("x", max=10), {"x": field}) == reason


def test_range_missing_field_blocks_unless_optional() -> None:
    _, result = Range("args.amount", max=10).check({"args": {}})
    assert result == GuardResult(
        "range:args.amount", "block", "missing", (Finding("args.amount", "range", "missing"),)
    )
    assert Range("args.amount", max=10, required=False).check({})[1].outcome == "pass"


def test_range_on_the_value_itself_and_a_custom_name() -> None:
    assert Range("", max=1).check(2)[1].guardrail == "range"
    assert Range("a", max=1, name="cap").check({"a": 2})[1].guardrail == "cap"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give min, max or both"),
        ({"min": 5, "max": 1}, "min 5 is above max 1"),
        ({"max": "10"}, "max must be a number"),
        ({"min": True}, "min must be a number"),
        ({"max": math.nan}, "max must be a number"),
    ],
)
def test_range_refuses_bad_bounds(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Range("x", **kwargs)


# --- AllowedValues -----------------------------------------------------------------


def test_allowed_values() -> None:
    env = AllowedValues("args.env", ["dev", "staging", 3, ["a"]])
    for ok in ("dev", "staging", 3, 3.0, ["a"]):
        assert env.check({"args": {"env": ok}})[1].outcome == "pass", ok
    for bad in ("prod", "DEV", 4, ["b"], {"x": 1}, None):
        assert env.check({"args": {"env": bad}})[1].outcome == "block", bad
    assert _reason(env, {"args": {}}) == "missing"


def test_allowed_values_never_takes_a_bool_for_a_number() -> None:
    assert AllowedValues("x", [1, 0]).check({"x": True})[1].outcome == "block"
    assert AllowedValues("x", [True]).check({"x": 1})[1].outcome == "block"
    assert AllowedValues("x", [True]).check({"x": True})[1].outcome == "pass"


def test_allowed_values_reason_names_the_rule_not_the_value() -> None:
    reason = _reason(AllowedValues("to", ["a@corp.example"]), {"to": "ann@evil.example"})
    assert reason == "not one of the allowed values ('a@corp.example')"
    many = AllowedValues("x", range(8))
    assert _reason(many, {"x": 9}) == "not one of the allowed values (0, 1, 2, 3, 4, ... 3 more)"


@pytest.mark.parametrize("values", [[], "abc", 5])
def test_allowed_values_refuses_bad_values(values: Any) -> None:
    with pytest.raises(InvalidInput):
        AllowedValues("x", values)


# --- Regex -----------------------------------------------------------------------


def test_regex_require_and_forbid() -> None:
    ticket = Regex("args.ticket", r"^[A-Z]+-[0-9]+$")
    assert ticket.check({"args": {"ticket": "OPS-12"}})[1].outcome == "pass"
    assert _reason(ticket, {"args": {"ticket": "ops 12"}}) == ("does not match '^[A-Z]+-[0-9]+$'")
    no_drop = Regex("sql", r"(?i)\bdrop\s+table\b", mode="forbid")
    assert no_drop.check({"sql": "select 1"})[1].outcome == "pass"
    assert _reason(no_drop, {"sql": "Drop  Table x"}) == (
        "matches the forbidden pattern '(?i)\\\\bdrop\\\\s+table\\\\b'"
    )


def test_regex_searches_rather_than_matches_the_whole_string() -> None:
    assert Regex("s", "b").check({"s": "abc"})[1].outcome == "pass"


def test_regex_blocks_a_field_that_is_not_a_string() -> None:
    assert _reason(Regex("s", "x"), {"s": 1}) == "not a string (int)"
    assert _reason(Regex("s", "x", mode="forbid"), {"s": None}) == "not a string (NoneType)"


def test_regex_compiles_once_and_refuses_bad_patterns() -> None:
    with pytest.raises(InvalidInput, match=r"invalid pattern '\(unclosed'"):
        Regex("s", "(unclosed")
    with pytest.raises(InvalidInput, match="mode must be 'require' or 'forbid'"):
        Regex("s", "x", mode="deny")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="invalid path"):
        Regex("s..t", "x")


def test_field_guardrails_never_change_the_value() -> None:
    value = {"a": {"b": 5}}
    for guardrail in (Range("a.b", max=1), AllowedValues("a.b", [1]), Regex("a.b", "x")):
        assert guardrail.check(value)[0] is value
