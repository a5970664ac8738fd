"""Guardrail results, the :class:`Guardrail` contract and :func:`run_guardrails`.

A guardrail looks at a value (an action's inputs before it runs, its outputs before they
leave) and answers pass, redact or block, with a reason and findings located by path.
The runner runs every guardrail in order, threads redactions from one to the next and
fails closed: a guardrail that raises, or returns something that is not a result,
counts as a block.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from tether.errors import InvalidInput

__all__ = [
    "Finding",
    "GuardOutcome",
    "GuardResult",
    "Guardrail",
    "Outcome",
    "passed",
    "run_guardrails",
]

Outcome: TypeAlias = Literal["pass", "redact", "block"]
_OUTCOMES = frozenset(("pass", "redact", "block"))


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a guardrail found, located by a JSON-path-like ``path``.

    ``path`` is ``""`` for the checked value itself, else like ``args.to`` or
    ``items[2].email``. ``detail`` never repeats the sensitive value: findings end up in
    logs and in the ledger.

    Example:
        >>> Finding("args.card", "payment_card", "payment card ending 1111")
        Finding(path='args.card', kind='payment_card', detail='payment card ending 1111')
    """

    path: str
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class GuardResult:
    """What one guardrail decided about one value.

    ``reason`` is ``""`` exactly when ``outcome`` is ``"pass"``.

    Example:
        >>> GuardResult("range:args.amount", "block", "above the maximum 10000").blocked
        True
        >>> GuardResult("email", "pass")
        GuardResult(guardrail='email', outcome='pass', reason='', findings=())

    Raises:
        InvalidInput: the outcome is unknown, or the reason is missing on a redact or
            block (or given on a pass).
    """

    guardrail: str
    outcome: Outcome
    reason: str = ""
    findings: tuple[Finding, ...] = ()

    def __post_init__(self) -> None:
        if self.outcome not in _OUTCOMES:
            raise InvalidInput(
                f"guardrail {self.guardrail!r}: unknown outcome {self.outcome!r}; "
                "expected 'pass', 'redact' or 'block'"
            )
        if (self.outcome == "pass") == bool(self.reason):
            raise InvalidInput(
                f"guardrail {self.guardrail!r}: a {self.outcome} needs "
                + ("no reason" if self.outcome == "pass" else "a reason")
            )

    @property
    def blocked(self) -> bool:
        """Whether the outcome is ``"block"``."""
        return self.outcome == "block"


class Guardrail(abc.ABC):
    """A validator run on an action's inputs or outputs.

    Subclasses set ``name`` in ``__init__`` and implement :meth:`check`. A guardrail
    holds no state between calls, so one instance may serve many threads.

    Example:
        >>> class NoDelete(Guardrail):
        ...     name = "no_delete"
        ...     def check(self, value):
        ...         if value.get("verb") == "delete":
        ...             return value, GuardResult(self.name, "block", "deletes are off")
        ...         return value, GuardResult(self.name, "pass")
        >>> NoDelete().check({"verb": "delete"})[1].reason
        'deletes are off'
    """

    name: str

    @abc.abstractmethod
    def check(self, value: Any) -> tuple[Any, GuardResult]:
        """Check ``value``; return the value to pass on and the result.

        The returned value is ``value`` itself, or a redacted copy: the input is never
        changed in place.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={_name_of(self)!r})"


@dataclass(frozen=True, slots=True)
class GuardOutcome:
    """The result of :func:`run_guardrails`.

    ``value`` carries every redaction, applied in order; ``reasons`` holds
    ``"<guardrail>: <reason>"`` for each result that did not pass (blocks and
    redactions), in order.

    Example:
        >>> from tether.pipeline.guardrails import Email, Range
        >>> out = run_guardrails([Email(), Range("amount", max=100)],
        ...                      {"to": "ann@example.com", "amount": 250})
        >>> out.value, out.blocked
        ({'to': '[REDACTED:email]', 'amount': 250}, True)
        >>> out.reasons
        ('email: redacted email at to', 'range:amount: above the maximum 100')
    """

    value: Any
    results: tuple[GuardResult, ...]
    blocked: bool
    reasons: tuple[str, ...]


def run_guardrails(guardrails: Sequence[Guardrail], value: Any) -> GuardOutcome:
    """Run every guardrail on ``value`` in order and gather the results.

    Each guardrail sees the value as redacted by the ones before it. A block does not
    stop the run: every guardrail reports, for the record. Anything unexpected fails
    closed: a guardrail that raises (any ``Exception``) or returns something other
    than ``(value, GuardResult)`` yields a block naming the exception type (never its
    message, which may quote the value) and leaves the value as it was.

    Example:
        >>> from tether.pipeline.guardrails import PythonValidator
        >>> def broken(value):
        ...     raise KeyError(value["secret"])
        >>> run_guardrails([PythonValidator(broken)], {"secret": "x"}).reasons
        ('broken: validator raised KeyError',)
    """
    results: list[GuardResult] = []
    for guardrail in guardrails:
        name = _name_of(guardrail)
        try:
            new_value, result = guardrail.check(value)
            if not isinstance(result, GuardResult):
                raise TypeError(f"check() returned {type(result).__name__}, not GuardResult")
        except Exception as exc:  # fail closed: a broken guardrail never lets a value by
            result = GuardResult(name, "block", f"guardrail raised {type(exc).__name__}")
        else:
            value = new_value
        results.append(result)
    return GuardOutcome(
        value=value,
        results=tuple(results),
        blocked=any(r.outcome == "block" for r in results),
        reasons=tuple(f"{r.guardrail}: {r.reason}" for r in results if r.outcome != "pass"),
    )


@functools.lru_cache(maxsize=1024)
def passed(guardrail: str) -> GuardResult:
    """Return the (shared, immutable) pass result of ``guardrail``.

    Example:
        >>> passed("email") is passed("email")
        True
    """
    return GuardResult(guardrail, "pass")


def _name_of(guardrail: object) -> str:
    name = getattr(guardrail, "name", None)
    return name if isinstance(name, str) and name else type(guardrail).__name__
