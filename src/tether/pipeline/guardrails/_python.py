"""The :class:`PythonValidator` guardrail: a plain function as a validator."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from tether.errors import InvalidInput
from tether.pipeline.guardrails._core import Guardrail, GuardResult, passed

__all__ = ["PythonValidator"]


class PythonValidator(Guardrail):
    """Run ``func(value)`` as a validator that passes or blocks.

    The contract for what ``func`` returns:

    - ``None`` or ``True``: pass;
    - ``False``: block with the reason ``"rejected by <name>"``;
    - a string: block with that string as the reason (an empty string counts as
      ``False``);
    - a :class:`GuardResult` with outcome ``"pass"`` or ``"block"``: taken as it is,
      renamed to this guardrail.

    Anything else fails closed and blocks: another type, a ``"redact"`` result (a
    validator cannot hand back a changed value; subclass :class:`Guardrail` to
    redact) and above all an exception, whose type is named in the reason. The
    exception's message is not: it may quote the value. ``func`` must not change the
    value it is given.

    Example:
        >>> def business_hours(value):
        ...     return None if 9 <= value["hour"] < 18 else "outside business hours"
        >>> PythonValidator(business_hours).check({"hour": 22})[1].reason
        'outside business hours'
        >>> result = PythonValidator(lambda v: 1 / 0).check({})[1]
        >>> result.guardrail, result.outcome, result.reason
        ('python', 'block', 'validator raised ZeroDivisionError')

    Raises:
        InvalidInput: ``func`` is not callable or is a coroutine function.
    """

    def __init__(self, func: Callable[[Any], object], *, name: str | None = None) -> None:
        if not callable(func):
            raise InvalidInput(f"PythonValidator needs a callable, got {type(func).__name__}")
        if inspect.iscoroutinefunction(func):
            raise InvalidInput(
                f"PythonValidator {_callable_name(func)!r}: async functions are not supported; "
                "pass a plain function"
            )
        self.func = func
        self.name = name if name is not None else _callable_name(func)

    def check(self, value: Any) -> tuple[Any, GuardResult]:
        """Call ``func(value)`` and map its answer to a result; never raises."""
        try:
            verdict = self.func(value)
        except Exception as exc:  # fail closed: a crashing check must not pass the value
            return value, self._block(f"validator raised {type(exc).__name__}")
        if verdict is None or verdict is True:
            return value, passed(self.name)
        if verdict is False or isinstance(verdict, str):
            return value, self._block(verdict or f"rejected by {self.name}")
        if isinstance(verdict, GuardResult):
            if verdict.outcome == "redact":
                return value, self._block("validator returned a redact result; it cannot redact")
            return value, dataclasses.replace(verdict, guardrail=self.name)
        if inspect.iscoroutine(verdict):
            verdict.close()  # never awaited: close it so Python does not warn
        return value, self._block(f"validator returned {type(verdict).__name__}")

    def _block(self, reason: str) -> GuardResult:
        return GuardResult(self.name, "block", reason)


def _callable_name(func: object) -> str:
    name = getattr(func, "__name__", None)
    return name if isinstance(name, str) and name != "<lambda>" else "python"
