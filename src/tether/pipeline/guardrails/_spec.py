"""Build a guardrail from a policy-file mapping: :func:`guardrail_from_spec`.

The format is documented in ``docs/guardrails.md``. Every mistake is an
:class:`~tether.errors.InvalidInput` naming the key and, for a misspelling, the key
that was probably meant.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from tether.errors import InvalidInput
from tether.pipeline.guardrails._core import Guardrail
from tether.pipeline.guardrails._detectors import Email, Iban, PaymentCard, Phone, UsSsn
from tether.pipeline.guardrails._fields import AllowedValues, Range, Regex
from tether.pipeline.guardrails._pii import Pii, PiiDetector
from tether.pipeline.guardrails._schema import JsonSchema

__all__ = ["DETECTORS", "guardrail_from_spec"]

DETECTORS: Mapping[str, type[PiiDetector]] = {
    "email": Email,
    "phone": Phone,
    "payment_card": PaymentCard,
    "iban": Iban,
    "us_ssn": UsSsn,
}
"""The PII detectors by the name a spec uses (also their ``kind``)."""

# type -> (required keys, optional keys); "type" and "name" are always allowed.
_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "pii": (frozenset(), frozenset({"detectors", "action"})),
    "json_schema": (frozenset({"schema"}), frozenset()),
    "range": (frozenset({"path"}), frozenset({"min", "max", "required"})),
    "allowed_values": (frozenset({"path", "values"}), frozenset({"required"})),
    "regex": (frozenset({"path", "pattern"}), frozenset({"mode", "required"})),
}


def guardrail_from_spec(spec: Mapping[str, Any]) -> Guardrail:
    """Build the guardrail that ``spec`` describes.

    Example:
        >>> guardrail_from_spec({"type": "range", "path": "args.amount", "max": 10000})
        Range(name='range:args.amount')
        >>> guardrail_from_spec({"type": "pii", "detectors": ["email", "payment_card"]})
        Pii(name='pii')
        >>> guardrail_from_spec({"type": "regex", "path": "args.to", "patern": "@corp$"})
        Traceback (most recent call last):
        ...
        tether.errors.InvalidInput: regex guardrail: unknown key 'patern'; did you mean 'pattern'?

    Raises:
        InvalidInput: the type or a key is unknown, a required key is missing, a value
            has the wrong type, or the guardrail refuses its arguments.
    """
    if not isinstance(spec, Mapping):
        raise InvalidInput(
            f"a guardrail spec is a mapping with a 'type', got {type(spec).__name__}"
        )
    kind = spec.get("type")
    if kind is None:
        raise InvalidInput(f"guardrail spec has no 'type'; expected one of: {_known(_KEYS)}")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise InvalidInput(f"unknown guardrail type {kind!r}{_hint(kind, _KEYS)}")
    required, optional = _KEYS[kind]
    allowed = required | optional | {"type", "name"}
    for key in spec:
        if key not in allowed:
            raise InvalidInput(f"{kind} guardrail: unknown key {key!r}{_hint(key, allowed)}")
    missing = sorted(required - spec.keys())
    if missing:
        raise InvalidInput(f"{kind} guardrail: missing key {missing[0]!r}")
    return _BUILDERS[kind](_Spec(kind, spec))


class _Spec:
    """Typed getters that name the key when its value has the wrong type."""

    def __init__(self, kind: str, spec: Mapping[str, Any]) -> None:
        self.kind = kind
        self.spec = spec

    def get(self, key: str, expected: str, ok: Callable[[Any], bool], default: Any = None) -> Any:
        if key not in self.spec:
            return default
        value = self.spec[key]
        if not ok(value):
            raise InvalidInput(
                f"{self.kind} guardrail: key {key!r} must be {expected}, "
                f"got {type(value).__name__} {value!r}"
            )
        return value

    def text(self, key: str, default: str | None = None) -> Any:
        return self.get(key, "a string", lambda v: isinstance(v, str), default)

    def number(self, key: str) -> Any:
        return self.get(key, "a number", _is_number)

    def flag(self, key: str, default: bool) -> Any:
        return self.get(key, "true or false", lambda v: isinstance(v, bool), default)

    def strings(self, key: str) -> Any:
        return self.get(key, "a list of strings", _is_string_list)

    def choice(self, key: str, choices: tuple[str, ...]) -> Any:
        value = self.text(key, choices[0])
        if value not in choices:
            raise InvalidInput(
                f"{self.kind} guardrail: key {key!r} must be one of "
                f"{', '.join(map(repr, choices))}, got {value!r}{_hint(value, choices)}"
            )
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def _pii(s: _Spec) -> Guardrail:
    names = s.strings("detectors")
    if names is None:
        names = list(DETECTORS)
    elif not names:
        raise InvalidInput("pii guardrail: key 'detectors' is empty; name at least one")
    action = s.choice("action", ("redact", "block"))
    for name in names:
        if name not in DETECTORS:
            raise InvalidInput(f"pii guardrail: unknown detector {name!r}{_hint(name, DETECTORS)}")
        if names.count(name) > 1:
            raise InvalidInput(f"pii guardrail: detector {name!r} is listed twice")
    if len(names) == 1:
        return DETECTORS[names[0]](action=action, name=s.text("name", names[0]))
    return Pii([DETECTORS[n](action=action) for n in names], name=s.text("name", "pii"))


def _json_schema(s: _Spec) -> Guardrail:
    schema = s.get("schema", "a mapping (a JSON Schema)", lambda v: isinstance(v, Mapping | bool))
    return JsonSchema(schema, name=s.text("name", "json_schema"))


def _range(s: _Spec) -> Guardrail:
    path = s.text("path")
    low, high = s.number("min"), s.number("max")
    if low is None and high is None:
        raise InvalidInput("range guardrail: give 'min', 'max' or both")
    return Range(path, min=low, max=high, required=s.flag("required", True), name=s.text("name"))


def _allowed_values(s: _Spec) -> Guardrail:
    values = s.get("values", "a list", lambda v: isinstance(v, list | tuple))
    return AllowedValues(
        s.text("path"), values, required=s.flag("required", True), name=s.text("name")
    )


def _regex(s: _Spec) -> Guardrail:
    return Regex(
        s.text("path"),
        s.text("pattern"),
        mode=s.choice("mode", ("require", "forbid")),
        required=s.flag("required", True),
        name=s.text("name"),
    )


_BUILDERS: dict[str, Callable[[_Spec], Guardrail]] = {
    "pii": _pii,
    "json_schema": _json_schema,
    "range": _range,
    "allowed_values": _allowed_values,
    "regex": _regex,
}


def _known(names: Mapping[str, Any] | frozenset[str] | tuple[str, ...]) -> str:
    return ", ".join(sorted(names))


def _hint(word: object, names: Mapping[str, Any] | frozenset[str] | tuple[str, ...]) -> str:
    if isinstance(word, str):
        match = difflib.get_close_matches(word, sorted(names), n=1)
        if match:
            return f"; did you mean {match[0]!r}?"
    return f"; expected one of: {_known(names)}"
