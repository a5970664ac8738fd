"""Ledger entries: what a leaf commits to, encoded as RFC 8785 canonical JSON."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from tether.errors import InvalidInput, VerificationError
from tether.ledger._merkle import leaf_hash

__all__ = [
    "ENTRY_VERSION",
    "ERASE_KIND",
    "Entry",
    "encode_entry",
    "erase_subject",
    "payload_digest",
    "validate_fields",
]

ENTRY_VERSION = 1
ERASE_KIND = "payload.erased"
"""The kind of the entry that records an erasure; only ``Ledger.erase`` writes it."""
_KIND = re.compile(r"^[a-z][a-z0-9_]*(?:[.-][a-z][a-z0-9_]*)*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENTRY_KEYS = frozenset({"actor", "index", "kind", "payload_digest", "subject", "timestamp", "v"})
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def erase_subject(index: int) -> str:
    """Return the subject an erase entry gives the entry whose payload it erased.

    Example:
        >>> erase_subject(42)
        'ledger/42'
    """
    return f"ledger/{index}"


def payload_digest(payload_bytes: bytes) -> str:
    """Return the digest string stored in an entry for a canonical payload.

    Example:
        >>> payload_digest(b"{}")[:15]
        'sha256:44136fa3'
    """
    return "sha256:" + hashlib.sha256(payload_bytes).hexdigest()


def validate_fields(kind: str, actor: str, subject: str | None) -> None:
    """Check the caller-given fields of an entry.

    Raises:
        InvalidInput: a field is malformed; the message says which and why.
    """
    if not isinstance(kind, str) or len(kind) > 64 or not _KIND.fullmatch(kind):
        raise InvalidInput(
            f"kind {kind!r} is not a valid kind: use lowercase dotted words like "
            "'decision' or 'policy.published' (letters, digits, '_', '-', at most 64 chars)"
        )
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 256:
        raise InvalidInput(f"actor {actor!r} must be a non-empty string of at most 256 chars")
    if _CONTROL.search(actor):
        raise InvalidInput(f"actor {actor!r} contains control characters")
    if subject is not None and (not isinstance(subject, str) or len(subject) > 1024):
        raise InvalidInput(f"subject {subject!r} must be a string of at most 1024 chars")


def encode_entry(
    index: int, timestamp: str, kind: str, actor: str, subject: str | None, digest: str
) -> bytes:
    """Encode an entry as canonical JSON.

    Every value is a string, null or a small integer and every key is ASCII, so
    orjson with sorted keys writes exactly the RFC 8785 bytes (a test checks it
    against ``rfc8785``).

    Example:
        >>> encode_entry(0, "t", "decision", "a", None, "sha256:00")
        b'{"actor":"a","index":0,"kind":"decision","payload_digest":"sha256:00","subject":null,"timestamp":"t","v":1}'
    """
    return orjson.dumps(
        {
            "actor": actor,
            "index": index,
            "kind": kind,
            "payload_digest": digest,
            "subject": subject,
            "timestamp": timestamp,
            "v": ENTRY_VERSION,
        },
        option=orjson.OPT_SORT_KEYS,
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry, and its payload when it was read with one.

    Example:
        >>> digest = "sha256:" + "0" * 64
        >>> raw = encode_entry(7, "2026-01-01T00:00:00.000000Z", "decision", "bot", None, digest)
        >>> Entry.parse(raw).index
        7
    """

    index: int
    timestamp: str
    kind: str
    actor: str
    subject: str | None
    payload_digest: str
    raw: bytes = field(repr=False)
    payload: Any = field(default=None, repr=False)
    erased_by: int | None = None

    @property
    def leaf_hash(self) -> bytes:
        """The Merkle leaf hash of this entry."""
        return leaf_hash(self.raw)

    @property
    def erased(self) -> bool:
        """Whether the payload was erased (the entry itself stays)."""
        return self.erased_by is not None

    @classmethod
    def parse(cls, raw: bytes, *, payload: Any = None, erased_by: int | None = None) -> Entry:
        """Decode stored entry bytes, checking their shape (not their canonical form).

        Raises:
            VerificationError: the bytes are not an entry of a known version.
        """
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise VerificationError(f"entry is not JSON: {exc}") from exc
        if not isinstance(obj, dict) or set(obj) != _ENTRY_KEYS:
            raise VerificationError("entry does not have exactly the fields of a v1 entry")
        if obj["v"] != ENTRY_VERSION:
            raise VerificationError(f"entry version {obj['v']!r} is not supported")
        index, digest = obj["index"], obj["payload_digest"]
        if type(index) is not int or index < 0:
            raise VerificationError(f"entry index {index!r} is not a non-negative integer")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise VerificationError(f"entry payload digest {digest!r} is malformed")
        for name in ("timestamp", "kind", "actor"):
            if not isinstance(obj[name], str):
                raise VerificationError(f"entry {name} is not a string")
        if obj["subject"] is not None and not isinstance(obj["subject"], str):
            raise VerificationError("entry subject is not a string or null")
        return cls(
            index=index,
            timestamp=obj["timestamp"],
            kind=obj["kind"],
            actor=obj["actor"],
            subject=obj["subject"],
            payload_digest=digest,
            raw=bytes(raw),
            payload=payload,
            erased_by=erased_by,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the entry's fields, its payload and erasure as a plain dict."""
        return {
            "index": self.index,
            "timestamp": self.timestamp,
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "payload_digest": self.payload_digest,
            "payload": self.payload,
            "erased_by": self.erased_by,
        }
