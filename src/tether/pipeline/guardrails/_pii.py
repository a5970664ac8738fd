"""The PII scan shared by every detector: :class:`PiiDetector` and the :class:`Pii` set.

A detector finds one kind of personal data in text. A scan looks at every string
anywhere in the value (values and mapping keys, inside dicts, lists and tuples) and at
integers of 13 to 19 digits (a card number sent as a number); other objects are not
looked into. A hit is replaced by ``[REDACTED:<kind>]``, leaving the rest of the
string as it was; a detector with ``action="block"`` also blocks.

Speed: a scan of a typical decision (a few hundred bytes, no PII) must cost a few µs,
so the value is first serialised once by orjson (in C) and each detector's regex runs
over that one text; only when some detector accepts a hit there does the scan walk the
value. That shortcut is exact, not a guess, because in orjson's output every string
stands verbatim between two ``"`` (the walk is skipped only when no ``\\`` escape
occurs), and no detector's pattern can match or look at a ``"``: whatever a detector
finds in a string it also finds in the text. Hits in the text that are not in a
string (a float's digits) only cost the walk.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeAlias

import orjson

from tether.errors import InvalidInput
from tether.pipeline.guardrails._core import Finding, Guardrail, GuardResult
from tether.pipeline.guardrails._paths import join_index, join_key

__all__ = ["Action", "Pii", "PiiDetector", "Span"]

Action: TypeAlias = Literal["redact", "block"]
Span: TypeAlias = tuple[int, int, str]
"""``(start, end, detail)`` of one hit in a text; ``detail`` never quotes the hit."""

_MIN_INT, _MAX_INT = 10**12, 10**19  # 13 to 19 digits: the lengths of a card number
_SHOWN = 5  # findings named in a reason; the rest are counted


class PiiDetector(Guardrail):
    """Base of the PII detectors: find one ``kind`` of personal data in text.

    Subclasses set ``kind``, ``pattern`` (which must never match or look at ``"``,
    see the module docstring) and optionally ``needle`` (a substring every hit holds,
    checked first because ``in`` is much cheaper than a regex), and implement
    :meth:`accept`. ``priority`` settles overlaps when several detectors scan
    together: the lower number keeps the text.

    Example:
        >>> class Ticket(PiiDetector):
        ...     kind = "ticket"
        ...     pattern = re.compile(r"\\bTCK-[0-9]{6}\\b")
        ...     def accept(self, match):
        ...         return match.start(), match.end(), "ticket number"
        >>> Ticket().check({"note": "see TCK-123456"})[0]
        {'note': 'see [REDACTED:ticket]'}
    """

    kind: ClassVar[str]
    pattern: ClassVar[re.Pattern[str]]
    needle: ClassVar[str | None] = None
    priority: ClassVar[int] = 100

    def __init__(self, *, action: Action = "redact", name: str | None = None) -> None:
        if action not in ("redact", "block"):
            raise InvalidInput(f"{self.kind}: action must be 'redact' or 'block', got {action!r}")
        self.action: Action = action
        self.name = self.kind if name is None else name

    @abc.abstractmethod
    def accept(self, match: re.Match[str]) -> Span | None:
        """Confirm a regex match (check digits, lengths); return its span or None."""

    def spans(self, text: str) -> Iterator[Span]:
        """Yield each hit in ``text``, left to right."""
        if self.needle is not None and self.needle not in text:
            return
        for match in self.pattern.finditer(text):
            span = self.accept(match)
            if span is not None:
                yield span

    def find(self, text: str) -> list[Span]:
        """Return every hit in ``text`` as ``(start, end, detail)``."""
        return list(self.spans(text))

    def check(self, value: Any) -> tuple[Any, GuardResult]:
        """Scan ``value``; return it redacted (a copy) and the result."""
        return _scan(value, (self,), self.name)


class Pii(Guardrail):
    """Several detectors in one scan (one walk of the value, not one per detector).

    Each detector keeps its own action; where two hits overlap, the more specific
    kind wins (email, IBAN, payment card, US SSN, then phone).

    Example:
        >>> from tether.pipeline.guardrails import Email, PaymentCard
        >>> pii = Pii([Email(), PaymentCard(action="block")])
        >>> value, result = pii.check({"to": "ann@example.com", "card": "4111 1111 1111 1111"})
        >>> value
        {'to': '[REDACTED:email]', 'card': '[REDACTED:payment_card]'}
        >>> result.outcome, result.reason
        ('block', 'found payment_card at card')

    Raises:
        InvalidInput: no detectors, or something that is not a :class:`PiiDetector`.
    """

    def __init__(self, detectors: Sequence[PiiDetector], *, name: str = "pii") -> None:
        detectors = tuple(detectors)
        if not detectors:
            raise InvalidInput(f"pii {name!r}: give at least one detector")
        for d in detectors:
            if not isinstance(d, PiiDetector):
                raise InvalidInput(f"pii {name!r}: {d!r} is not a PII detector")
        self.detectors = tuple(sorted(detectors, key=lambda d: d.priority))
        self.name = name

    def check(self, value: Any) -> tuple[Any, GuardResult]:
        """Scan ``value`` with every detector; return it redacted (a copy) and the result."""
        return _scan(value, self.detectors, self.name)


def _scan(value: Any, detectors: tuple[PiiDetector, ...], name: str) -> tuple[Any, GuardResult]:
    if not _may_hold_pii(value, detectors):
        return value, GuardResult(name, "pass")
    walk = _Walk(detectors)
    redacted = walk.value(value, "")
    if not walk.findings:
        return value, GuardResult(name, "pass")
    if walk.merged:
        reason = f"redacting keys would merge entries at {walk.merged[0] or 'the root'}"
        return redacted, GuardResult(name, "block", reason, tuple(walk.findings))
    if walk.blocking:
        reason = "found " + _listing(walk.blocking)
        return redacted, GuardResult(name, "block", reason, tuple(walk.findings))
    return redacted, GuardResult(
        name, "redact", "redacted " + _listing(walk.findings), tuple(walk.findings)
    )


def _may_hold_pii(value: Any, detectors: tuple[PiiDetector, ...]) -> bool:
    """Return False only when no string in ``value`` can hold a hit (see module doc)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value).decode()
        except (TypeError, ValueError):  # not JSON (a set, a non-str key): walk it
            return True
        if "\\" in text:  # an escape could hide a boundary from a lookaround
            return True
    return any(next(d.spans(text), None) is not None for d in detectors)


def _listing(findings: list[Finding]) -> str:
    named = [f"{f.kind} at {f.path}" if f.path else f.kind for f in findings[:_SHOWN]]
    more = len(findings) - _SHOWN
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


class _Walk:
    """One slow walk: rebuilds every container, redacting hits and recording findings."""

    __slots__ = ("blocking", "detectors", "findings", "merged")

    def __init__(self, detectors: tuple[PiiDetector, ...]) -> None:
        self.detectors = detectors
        self.findings: list[Finding] = []
        self.blocking: list[Finding] = []
        self.merged: list[str] = []

    def value(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return self.text(value, path, "")
        if isinstance(value, int) and not isinstance(value, bool):
            if _MIN_INT <= abs(value) < _MAX_INT:
                text = str(value)
                redacted = self.text(text, path, "")
                return value if redacted is text else redacted
            return value
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str):
                    # A key's own path would quote the key: its findings name the parent.
                    key = self.text(key, path, " in a key")
                item_path = join_key(path, key if isinstance(key, str) else str(key))
                if key in out:
                    self.merged.append(item_path)
                out[key] = self.value(item, item_path)
            return out
        if isinstance(value, list | tuple):
            items = [self.value(item, join_index(path, i)) for i, item in enumerate(value)]
            return items if isinstance(value, list) else tuple(items)
        return value

    def text(self, text: str, path: str, where: str) -> str:
        hits: list[tuple[int, int, PiiDetector, str]] = []
        for detector in self.detectors:
            for start, end, detail in detector.spans(text):
                if not any(start < e and s < end for s, e, _, _ in hits):
                    hits.append((start, end, detector, detail))
        if not hits:
            return text
        hits.sort(key=lambda h: h[0])
        pieces: list[str] = []
        pos = 0
        for start, end, detector, detail in hits:
            pieces += (text[pos:start], f"[REDACTED:{detector.kind}]")
            pos = end
            finding = Finding(path, detector.kind, detail + where)
            self.findings.append(finding)
            if detector.action == "block":
                self.blocking.append(finding)
        pieces.append(text[pos:])
        return "".join(pieces)
