"""Guardrails on one field: :class:`Range`, :class:`AllowedValues` and :class:`Regex`.

Each reads the field at a path (``args.amount``, ``items[0].sku``; ``""`` is the value
itself). A missing field blocks with the reason ``"missing"`` unless ``required=False``,
in which case there is nothing to check and the guardrail passes. Reasons name the
rule, never the field's value: the value may be personal data, and reasons go to the
ledger.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable
from decimal import Decimal
from numbers import Real
from typing import Any, ClassVar, Literal

from tether.errors import InvalidInput
from tether.pipeline.guardrails._core import Finding, Guardrail, GuardResult, passed
from tether.pipeline.guardrails._paths import MISSING, lookup, parse_path

__all__ = ["AllowedValues", "Range", "Regex"]


class _FieldGuardrail(Guardrail):
    """Base of the guardrails that check the one field at ``path``.

    Subclasses set ``kind`` and implement :meth:`problem`.
    """

    kind: ClassVar[str]

    def __init__(self, path: str, *, required: bool = True, name: str | None = None) -> None:
        self._parts = parse_path(path)
        if not isinstance(required, bool):
            raise InvalidInput(f"{self.kind} {path!r}: required must be true or false")
        self.path = path
        self.required = required
        self.name = name if name is not None else f"{self.kind}:{path}" if path else self.kind

    def problem(self, field: Any) -> str | None:
        """Return why ``field`` fails, or None when it passes."""
        raise NotImplementedError

    def check(self, value: Any) -> tuple[Any, GuardResult]:
        """Check the field at ``path``; the value is returned unchanged."""
        field = lookup(value, self._parts)
        if field is MISSING:
            problem: str | None = "missing" if self.required else None
        else:
            problem = self.problem(field)
        if problem is None:
            return value, passed(self.name)
        finding = Finding(self.path, self.kind, problem)
        return value, GuardResult(self.name, "block", problem, (finding,))


def _is_number(x: object) -> bool:
    return isinstance(x, Real | Decimal) and not isinstance(x, bool)


def _is_nan(x: Any) -> bool:
    # Decimal's signalling NaN raises on comparison, even on !=.
    return x.is_nan() if isinstance(x, Decimal) else isinstance(x, float) and math.isnan(x)


class Range(_FieldGuardrail):
    """Block unless the number at ``path`` lies within ``[min, max]`` (both inclusive).

    A bool is not a number, nor is NaN.

    Example:
        >>> cap = Range("args.amount", min=0, max=10_000)
        >>> [cap.check({"args": {"amount": a}})[1].reason for a in (50, 12_000, "5", True)]
        ['', 'above the maximum 10000', 'not a number (str)', 'not a number (bool)']
        >>> cap.check({"args": {}})[1].reason
        'missing'

    Raises:
        InvalidInput: a bound is not a number, ``min > max``, neither bound is given or
            the path is malformed.
    """

    kind = "range"

    def __init__(
        self,
        path: str,
        min: float | Decimal | None = None,
        max: float | Decimal | None = None,
        *,
        required: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(path, required=required, name=name)
        for label, bound in (("min", min), ("max", max)):
            if bound is not None and (not _is_number(bound) or _is_nan(bound)):
                raise InvalidInput(f"range {path!r}: {label} must be a number, got {bound!r}")
        if min is None and max is None:
            raise InvalidInput(f"range {path!r}: give min, max or both")
        if min is not None and max is not None and min > max:
            raise InvalidInput(f"range {path!r}: min {min} is above max {max}")
        self.min = min
        self.max = max

    def problem(self, field: Any) -> str | None:
        """Say why ``field`` is out of range or not a number; None if it is fine."""
        if not _is_number(field):
            return f"not a number ({type(field).__name__})"
        if _is_nan(field):
            return "not a number (NaN)"
        if self.min is not None and field < self.min:
            return f"below the minimum {self.min}"
        if self.max is not None and field > self.max:
            return f"above the maximum {self.max}"
        return None


def _key(value: Any) -> tuple[bool, Any]:
    # True == 1 in Python; tagging bools keeps ``True`` from passing for an allowed 1.
    return (isinstance(value, bool), value)


class AllowedValues(_FieldGuardrail):
    """Block unless the field at ``path`` equals one of ``values``.

    Equality is Python's, except that a bool never equals a number.

    Example:
        >>> env = AllowedValues("args.env", ["dev", "staging"])
        >>> env.check({"args": {"env": "prod"}})[1].reason
        "not one of the allowed values ('dev', 'staging')"

    Raises:
        InvalidInput: ``values`` is empty or a string, or the path is malformed.
    """

    kind = "allowed_values"

    def __init__(
        self,
        path: str,
        values: Iterable[Any],
        *,
        required: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(path, required=required, name=name)
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise InvalidInput(f"allowed_values {path!r}: values must be a list of values")
        self.values = tuple(values)
        if not self.values:
            raise InvalidInput(f"allowed_values {path!r}: values is empty, so nothing could pass")
        self._hashable = frozenset(_key(v) for v in self.values if isinstance(v, Hashable))
        self._other = tuple(v for v in self.values if not isinstance(v, Hashable))
        shown = ", ".join(repr(v) for v in self.values[:5])
        more = f", ... {len(self.values) - 5} more" if len(self.values) > 5 else ""
        self._reason = f"not one of the allowed values ({shown}{more})"

    def problem(self, field: Any) -> str | None:
        """Return the reason when ``field`` is not allowed, else None."""
        if isinstance(field, Hashable):
            try:
                if _key(field) in self._hashable:
                    return None
            except TypeError:  # a tuple holding a list is Hashable but does not hash
                pass
        if any(v == field and _key(v)[0] == _key(field)[0] for v in self._other):
            return None
        return self._reason


class Regex(_FieldGuardrail):
    """Require or forbid a regular expression in the string at ``path``.

    Matching is :func:`re.search` (as JSON Schema's ``pattern``): anchor with ``^`` and
    ``$`` to match the whole string. A field that is not a string blocks.

    Example:
        >>> no_drop = Regex("args.sql", r"(?i)\\bdrop\\s+table\\b", mode="forbid")
        >>> no_drop.check({"args": {"sql": "DROP TABLE users"}})[1].outcome
        'block'
        >>> ticket = Regex("args.ticket", r"^[A-Z]+-[0-9]+$")
        >>> ticket.check({"args": {"ticket": "OPS-12"}})[1].outcome
        'pass'

    Raises:
        InvalidInput: the pattern does not compile, the mode is unknown or the path is
            malformed.
    """

    kind = "regex"

    def __init__(
        self,
        path: str,
        pattern: str | re.Pattern[str],
        *,
        mode: Literal["require", "forbid"] = "require",
        required: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(path, required=required, name=name)
        if mode not in ("require", "forbid"):
            raise InvalidInput(f"regex {path!r}: mode must be 'require' or 'forbid', got {mode!r}")
        try:
            self._regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise InvalidInput(f"regex {path!r}: invalid pattern {pattern!r}: {exc}") from None
        if not isinstance(self._regex.pattern, str):
            raise InvalidInput(f"regex {path!r}: the pattern must be text, not bytes")
        self.pattern = self._regex.pattern
        self.mode = mode

    def problem(self, field: Any) -> str | None:
        """Return the reason when ``field`` breaks the rule, else None."""
        if not isinstance(field, str):
            return f"not a string ({type(field).__name__})"
        found = self._regex.search(field) is not None
        if self.mode == "require" and not found:
            return f"does not match {self.pattern!r}"
        if self.mode == "forbid" and found:
            return f"matches the forbidden pattern {self.pattern!r}"
        return None
