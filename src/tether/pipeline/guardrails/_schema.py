"""The :class:`JsonSchema` guardrail (JSON Schema draft 2020-12, via ``jsonschema``)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from tether.errors import InvalidInput
from tether.pipeline.guardrails._core import Finding, Guardrail, GuardResult, passed
from tether.pipeline.guardrails._paths import format_path

__all__ = ["JsonSchema"]

_JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
# Messages for these keywords name properties, never the checked value; for the other
# keywords jsonschema's message quotes the value (it may be personal data), so the
# detail is rebuilt from the keyword and the schema's own value.
_KEY_MESSAGES = frozenset(("required", "dependentRequired", "additionalProperties"))
_PREVIEW = 60


class JsonSchema(Guardrail):
    """Block a value that does not validate against a JSON Schema (draft 2020-12).

    ``format`` is asserted (``"format": "email"`` is checked, not just noted). Each
    violation is a finding at the path of the offending item; details quote the
    schema, never the value.

    Example:
        >>> schema = {"type": "object", "required": ["to"],
        ...           "properties": {"amount": {"type": "number", "maximum": 100}}}
        >>> result = JsonSchema(schema).check({"amount": 250})[1]
        >>> result.reason
        "2 schema violations; first at the root: 'to' is a required property"
        >>> [(f.path, f.detail) for f in result.findings]
        [('', "'to' is a required property"), ('amount', 'violates maximum: 100')]

    Raises:
        InvalidInput: the schema itself is invalid (the message names where).
    """

    def __init__(self, schema: Mapping[str, Any] | bool, *, name: str = "json_schema") -> None:
        # Imported here: jsonschema costs ~70 ms to import and only this class needs it.
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if not isinstance(schema, Mapping | bool):
            raise InvalidInput(
                f"json_schema {name!r}: a schema is a mapping, got {type(schema).__name__}"
            )
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise InvalidInput(f"json_schema {name!r}: {_schema_problem(exc)}") from None
        self.schema = schema
        self.name = name
        self._validator = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def check(self, value: Any) -> tuple[Any, GuardResult]:
        """Validate ``value``; the value is returned unchanged."""
        errors = sorted(
            self._validator.iter_errors(value),
            key=lambda e: (format_path(list(e.absolute_path)), str(e.validator)),
        )
        if not errors:
            return value, passed(self.name)
        findings = tuple(
            Finding(format_path(list(e.absolute_path)), "schema", _detail(e)) for e in errors
        )
        first = findings[0]
        count = f"{len(findings)} schema violation" + ("s" if len(findings) > 1 else "")
        reason = f"{count}; first at {first.path or 'the root'}: {first.detail}"
        return value, GuardResult(self.name, "block", reason, findings)


def _detail(error: Any) -> str:
    if error.validator in _KEY_MESSAGES:
        return str(error.message)
    if error.validator is None:  # the schema ``false``
        return "not allowed by the schema"
    try:
        shown = json.dumps(error.validator_value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        shown = repr(error.validator_value)
    if len(shown) > _PREVIEW:
        shown = shown[: _PREVIEW - 3] + "..."
    return f"violates {error.validator}: {shown}"


def _schema_problem(error: Any) -> str:
    where = format_path(list(error.absolute_path)) or "the root"
    problem = f"invalid schema at {where}: {error.message}"
    bad = error.instance
    if error.absolute_path and error.absolute_path[-1] == "type" and isinstance(bad, str):
        match = difflib.get_close_matches(bad, _JSON_TYPES, n=1)
        if match:
            problem += f"; did you mean {match[0]!r}?"
    return problem
