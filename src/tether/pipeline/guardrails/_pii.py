"""The PII scan shared by every detector: :class:`PiiDetector` and the :class:`Pii` set.

A detector finds one kind of personal data in text. A scan looks at every string
anywhere in the value (values and mapping keys, inside dicts, lists and tuples) and at
integers of 13 to 19 digits (a card number sent as a number); other objects are not
looked into. A hit is replaced by ``[REDACTED:<kind>]``, leaving the rest of the
string as it was; a detector with ``action="block"`` also blocks.

Speed: guardrails run on every decision. Python's ``re`` costs ~5 µs to search even a
500-byte text and walking a nested value costs ~0.5 µs an item, so five patterns over
every string would cost 50-100 µs. A scan therefore starts with a digest: the value
serialised once by orjson (in C) and mapped by ``bytes.translate`` (digits to ``0``,
letters to ``a``), on which each built-in detector tests a necessary condition with
``bytes.find`` (``@`` for an e-mail, ``aa00`` for an IBAN, a run of 13 digits and
separators inside a string for a card, ...). Only the detectors whose condition holds
walk the value with their real pattern; for a value with no PII that is usually none.
The conditions are necessary, not heuristic: a hit is made of characters that orjson
writes as they are, so it shows in the digest. A value orjson cannot serialise (a set,
a non-string key) is always walked.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeAlias

import orjson

from tether.errors import InvalidInput
from tether.pipeline.guardrails._core import Finding, Guardrail, GuardResult, passed
from tether.pipeline.guardrails._paths import format_path

__all__ = ["Action", "Pii", "PiiDetector", "Span"]

Action: TypeAlias = Literal["redact", "block"]
Span: TypeAlias = tuple[int, int, str]
"""``(start, end, detail)`` of one hit in a text; ``detail`` never quotes the hit."""

_MIN_INT, _MAX_INT = 10**12, 10**19  # 13 to 19 digits: the lengths of a card number
_SHOWN = 5  # findings named in a reason; the rest are counted


class PiiDetector(Guardrail):
    """Base of the PII detectors: find one ``kind`` of personal data in text.

    Subclasses set ``kind`` and ``pattern`` and implement :meth:`accept`. Optional
    gates, tried before the pattern because they are much cheaper: ``needle`` (a
    substring every hit holds), ``min_length`` and ``in_digit_run`` (every hit lies in
    a run of 8 or more ASCII digits and the separators `` .()+-``). ``priority``
    settles overlaps when several detectors scan together: the lower number keeps the
    text.

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
    min_length: ClassVar[int] = 1
    in_digit_run: ClassVar[bool] = False
    priority: ClassVar[int] = 100

    def __init__(self, *, action: Action = "redact", name: str | None = None) -> None:
        if action not in ("redact", "block"):
            raise InvalidInput(f"{self.kind}: action must be 'redact' or 'block', got {action!r}")
        self.action: Action = action
        self.name = self.kind if name is None else name

    @abc.abstractmethod
    def accept(self, match: re.Match[str]) -> Span | None:
        """Confirm a regex match (check digits, lengths); return its span or None."""

    def _may_occur(self, digest: _Digest) -> bool:
        # False only if no string of the digested value can hold a hit. True (always
        # walk) by default; the built-in detectors test a necessary condition.
        return True

    def spans(self, text: str) -> Iterator[Span]:
        """Yield each hit in ``text``, left to right."""
        if len(text) < self.min_length or (self.needle is not None and self.needle not in text):
            return
        # bytes.translate and find run at C speed; a regex search costs 10-50 times more.
        if self.in_digit_run and _EIGHT not in _runs_of(text):
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
    digest = _Digest.of(value)
    if digest is not None:
        detectors = tuple([d for d in detectors if d._may_occur(digest)])
        if not detectors:
            return value, passed(name)
    walk = _Walk(detectors)
    redacted = walk.value(value, None)
    findings = tuple(walk.findings)
    if not findings:
        return value, passed(name)
    if walk.merged:
        reason = f"redacting keys would merge entries at {walk.merged[0] or 'the root'}"
        return redacted, GuardResult(name, "block", reason, findings)
    if walk.blocking:
        return redacted, GuardResult(name, "block", "found " + _listing(walk.blocking), findings)
    return redacted, GuardResult(name, "redact", "redacted " + _listing(walk.findings), findings)


_SHAPE = bytes.maketrans(
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", b"0" * 10 + b"a" * 52
)
# Digits and the separators of phones, cards and SSNs all become "0", so that
# bytes.find(b"00000000") finds the runs that may hold one (8+ digits each).
_RUNS = bytes(ord("0") if chr(b) in "0123456789 .()+-" else ord(".") for b in range(256))
_EIGHT = b"0" * 8
_ISO_DATE = b"0000-00-00"


def _runs_of(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass").translate(_RUNS)


class _Digest:
    """A value serialised once, for the detectors' C-speed necessary conditions.

    ``blob`` is orjson's output; ``shape`` the same bytes with every ASCII digit
    mapped to ``0`` and every ASCII letter to ``a``.

    Example:
        >>> d = _Digest.of({"note": "call 020 7946 0958", "n": 3})
        >>> d.shape
        b'{"aaaa":"aaaa 000 0000 0000","a":0}'
        >>> [(d.shape[s:e], in_string) for s, e, in_string in d.runs()]
        [(b' 000 0000 0000', True)]
    """

    __slots__ = ("_runs", "blob", "escaped", "shape")

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.shape = blob.translate(_SHAPE)
        # An escape (\n, \", \u0001) hides a character: a run's neighbour in the
        # text may then not be its neighbour in the string, and counting quotes cannot
        # tell strings from numbers. Conditions that look at neighbours are off then.
        self.escaped = b"\\" in blob
        self._runs: list[tuple[int, int, bool]] | None = None

    @classmethod
    def of(cls, value: Any) -> _Digest | None:
        """Digest ``value``, or return None when orjson cannot serialise it."""
        try:
            return cls(orjson.dumps(value))
        except (TypeError, ValueError):  # a set, a non-str key, a huge int: walk it
            return None

    def runs(self) -> list[tuple[int, int, bool]]:
        """Return ``(start, end, in_string)`` of each maximal run of 8 or more digits
        and separators (space ``.()+-``), in a string or in a JSON number, but for
        runs that are an ISO date but for spaces, dots and dashes around it."""
        if self._runs is None:
            blob = self.blob
            marks = blob.translate(_RUNS)
            runs = []
            start = marks.find(_EIGHT)
            if start >= 0:
                escaped = self.escaped  # then every run counts as in a string
                quotes = last = 0
                while start >= 0:
                    end = marks.find(b".", start)
                    end = len(marks) if end < 0 else end
                    # A lone ISO date (in nearly every payload) can hold no hit: too few
                    # digits for a card, the wrong shape for an SSN, and a national phone
                    # of 8 digits shaped as a date is taken for a date (_NOT_PHONE).
                    if end - start > 14 or self.shape[start:end].strip(b" .-") != _ISO_DATE:
                        quotes += blob.count(b'"', last, start)
                        last = start
                        runs.append((start, end, escaped or quotes % 2 == 1))
                    start = marks.find(_EIGHT, end)
            self._runs = runs
        return self._runs

    def digits(self, start: int, end: int) -> int:
        """Count the digits in ``blob[start:end]``."""
        return self.shape.count(b"0", start, end)


# A path as a linked list (parent, key or index), formatted only for a finding: building
# "a.b[2]" for every item would cost more than the rest of the walk.
_Path: TypeAlias = tuple[Any, str | int] | None


def _format(path: _Path) -> str:
    parts: list[str | int] = []
    while path is not None:
        path, part = path
        parts.append(part)
    return format_path(parts[::-1])


def _listing(findings: list[Finding]) -> str:
    named = [f"{f.kind} at {f.path}" if f.path else f.kind for f in findings[:_SHOWN]]
    more = len(findings) - _SHOWN
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


class _Walk:
    """One slow walk: rebuilds every container, redacting hits and recording findings."""

    __slots__ = ("blocking", "detectors", "findings", "merged", "shortest")

    def __init__(self, detectors: tuple[PiiDetector, ...]) -> None:
        self.detectors = detectors
        self.shortest = min(d.min_length for d in detectors)
        self.findings: list[Finding] = []
        self.blocking: list[Finding] = []
        self.merged: list[str] = []

    def value(self, value: Any, path: _Path) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value, path, "")
        if kind is float or kind is bool or value is None:
            return value
        if kind is dict or isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str):
                    # A key's own path would quote the key: its findings name the parent.
                    key = self.text(key, path, " in a key")
                item_path = (path, key if isinstance(key, str) else str(key))
                if key in out:
                    self.merged.append(_format(item_path))
                out[key] = self.value(item, item_path)
            return out
        if kind is list or kind is tuple or isinstance(value, list | tuple):
            items = [self.value(item, (path, i)) for i, item in enumerate(value)]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, str):
            return self.text(value, path, "")
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and _MIN_INT <= abs(value) < _MAX_INT
        ):
            text = str(value)
            redacted = self.text(text, path, "")
            return value if redacted is text else redacted
        return value

    def text(self, text: str, path: _Path, where: str) -> str:
        if len(text) < self.shortest:  # most keys and many values
            return text
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
            finding = Finding(_format(path), detector.kind, detail + where)
            self.findings.append(finding)
            if detector.action == "block":
                self.blocking.append(finding)
        pieces.append(text[pos:])
        return "".join(pieces)
