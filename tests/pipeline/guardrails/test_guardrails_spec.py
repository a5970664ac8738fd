"""guardrail_from_spec: the policy-file form of every guardrail, and clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from tether.errors import InvalidInput
from tether.pipeline.guardrails import (
    DETECTORS,
    AllowedValues,
    Email,
    Iban,
    JsonSchema,
    PaymentCard,
    Pii,
    Range,
    Regex,
    guardrail_from_spec,
)


def test_pii_with_several_detectors_is_one_composite() -> None:
    g = guardrail_from_spec(
        {"type": "pii", "detectors": ["email", "payment_card"], "action": "block"}
    )
    assert isinstance(g, Pii)
    assert [type(d) for d in g.detectors] == [Email, PaymentCard]
    assert {d.action for d in g.detectors} == {"block"}
    assert g.check({"to": "ann@example.com"})[1].outcome == "block"


def test_pii_with_one_detector_is_that_detector() -> None:
    g = guardrail_from_spec({"type": "pii", "detectors": ["iban"], "name": "no_iban"})
    assert isinstance(g, Iban)
    assert (g.name, g.action) == ("no_iban", "redact")


def test_pii_without_detectors_uses_all_five() -> None:
    g = guardrail_from_spec({"type": "pii"})
    assert isinstance(g, Pii)
    assert sorted(d.kind for d in g.detectors) == sorted(DETECTORS)
    assert g.name == "pii"


def test_field_guardrails() -> None:
    g = guardrail_from_spec({"type": "range", "path": "args.amount", "min": 0, "max": 10000})
    assert isinstance(g, Range)
    assert (g.path, g.min, g.max, g.required, g.name) == (
        "args.amount",
        0,
        10000,
        True,
        "range:args.amount",
    )
    g = guardrail_from_spec(
        {"type": "allowed_values", "path": "args.env", "values": ["dev"], "required": False}
    )
    assert isinstance(g, AllowedValues)
    assert (g.values, g.required) == (("dev",), False)
    g = guardrail_from_spec(
        {"type": "regex", "path": "args.to", "pattern": "@corp\\.example$", "mode": "forbid",
         "name": "no_corp"}
    )  # fmt: skip
    assert isinstance(g, Regex)
    assert (g.pattern, g.mode, g.name) == ("@corp\\.example$", "forbid", "no_corp")
    assert isinstance(guardrail_from_spec({"type": "regex", "path": "a", "pattern": "x"}), Regex)


def test_json_schema() -> None:
    g = guardrail_from_spec({"type": "json_schema", "schema": {"type": "object"}})
    assert isinstance(g, JsonSchema)
    assert g.check([])[1].outcome == "block"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "a guardrail spec is a mapping with a 'type', got list"),
        ({}, "guardrail spec has no 'type'; expected one of: allowed_values, json_schema, pii, r"),
        ({"type": "rang"}, "unknown guardrail type 'rang'; did you mean 'range'\\?"),
        ({"type": "antivirus"}, "unknown guardrail type 'antivirus'; expected one of: allowed_"),
        ({"type": 3}, "unknown guardrail type 3; expected one of"),
        ({"type": "regex", "path": "a", "patern": "x"},
         "regex guardrail: unknown key 'patern'; did you mean 'pattern'\\?"),
        ({"type": "range", "path": "a", "maximum": 3},
         "range guardrail: unknown key 'maximum'; did you mean 'max'\\?"),
        ({"type": "range", "path": "a", "zzz": 3},
         "range guardrail: unknown key 'zzz'; expected one of: max, min, name, path, required, ty"),
        ({"type": "range", "max": 3}, "range guardrail: missing key 'path'"),
        ({"type": "range", "path": "a"}, "range guardrail: give 'min', 'max' or both"),
        ({"type": "range", "path": "a", "max": "10k"},
         "range guardrail: key 'max' must be a number, got str '10k'"),
        ({"type": "range", "path": "a", "max": True}, "key 'max' must be a number, got bool True"),
        ({"type": "range", "path": 5, "max": 1}, "key 'path' must be a string, got int 5"),
        ({"type": "range", "path": "a", "max": 1, "required": "yes"},
         "key 'required' must be true or false"),
        ({"type": "range", "path": "a..b", "max": 1}, "invalid path 'a..b'"),
        ({"type": "regex", "path": "a", "pattern": "("}, "invalid pattern '\\('"),
        ({"type": "regex", "path": "a", "pattern": "x", "mode": "forbidd"},
         "key 'mode' must be one of 'require', 'forbid', got 'forbidd'; did you mean 'forbid'\\?"),
        ({"type": "allowed_values", "path": "a", "values": "dev"},
         "key 'values' must be a list, got str 'dev'"),
        ({"type": "allowed_values", "path": "a", "values": []}, "values is empty"),
        ({"type": "json_schema", "schema": "object"}, "key 'schema' must be a mapping"),
        ({"type": "json_schema", "schema": {"type": "objekt"}}, "did you mean 'object'\\?"),
        ({"type": "pii", "detectors": ["emial"]},
         "pii guardrail: unknown detector 'emial'; did you mean 'email'\\?"),
        ({"type": "pii", "detectors": "email"}, "key 'detectors' must be a list of strings"),
        ({"type": "pii", "detectors": []}, "key 'detectors' is empty"),
        ({"type": "pii", "detectors": ["email", "email"]}, "detector 'email' is listed twice"),
        ({"type": "pii", "action": "mask"},
         "key 'action' must be one of 'redact', 'block', got 'mask'"),
        ({"type": "pii", "name": 7}, "key 'name' must be a string"),
    ],
)  # fmt: skip
def test_spec_errors_name_the_key_and_hint(spec: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        guardrail_from_spec(spec)
