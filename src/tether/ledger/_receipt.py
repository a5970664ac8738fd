"""Receipts: everything a third party needs to check one entry offline.

A receipt holds the entry's canonical bytes, its payload digest, its leaf index, an
inclusion proof and a signed checkpoint. :func:`verify_receipt` trusts nothing in it:
the checkpoint must be signed by the verifier key the caller holds, the proof must
lead from the entry's leaf hash to that checkpoint's root, and the index and digest
written inside the entry must match the receipt's.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from tether.errors import InvalidInput, ProofError, VerificationError
from tether.ledger._canonical import canonical_json
from tether.ledger._entry import Entry, payload_digest
from tether.ledger._merkle import leaf_hash, verify_inclusion
from tether.ledger._note import Checkpoint, Verifier

__all__ = ["RECEIPT_FORMAT", "Receipt", "verify_receipt"]

RECEIPT_FORMAT = "tether.receipt/v1"


@dataclass(frozen=True)
class Receipt:
    """Proof that one entry is in the log, checkable offline with the public key."""

    entry: bytes
    payload_digest: str
    leaf_index: int
    tree_size: int
    inclusion_proof: tuple[bytes, ...]
    checkpoint: str

    def to_dict(self) -> dict[str, Any]:
        """Return the receipt as JSON-ready data."""
        return {
            "format": RECEIPT_FORMAT,
            "entry": self.entry.decode(),
            "payload_digest": self.payload_digest,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "inclusion_proof": [base64.b64encode(h).decode() for h in self.inclusion_proof],
            "checkpoint": self.checkpoint,
        }

    def to_json(self) -> str:
        """Return the receipt as indented JSON text."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        """Parse a receipt written by :meth:`to_json`.

        Raises:
            InvalidInput: the text is not a tether receipt.
        """
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"receipt is not JSON: {exc}") from exc
        if not isinstance(obj, dict) or obj.get("format") != RECEIPT_FORMAT:
            raise InvalidInput(f"not a tether receipt (expected format {RECEIPT_FORMAT!r})")
        try:
            proof = tuple(base64.b64decode(h, validate=True) for h in obj["inclusion_proof"])
            receipt = cls(
                entry=str(obj["entry"]).encode(),
                payload_digest=str(obj["payload_digest"]),
                leaf_index=_int(obj["leaf_index"], "leaf_index"),
                tree_size=_int(obj["tree_size"], "tree_size"),
                inclusion_proof=proof,
                checkpoint=str(obj["checkpoint"]),
            )
        except KeyError as exc:
            raise InvalidInput(f"receipt lacks the field {exc.args[0]!r}") from exc
        except (TypeError, binascii.Error) as exc:
            raise InvalidInput(f"receipt inclusion_proof is malformed: {exc}") from exc
        return receipt


def _int(value: Any, name: str) -> int:
    if type(value) is not int:
        raise InvalidInput(f"receipt {name} {value!r} is not an integer")
    return value


def verify_receipt(
    receipt: Receipt, verifier: Verifier, *, payload: Any = None, check_payload: bool = False
) -> Entry:
    """Check a receipt offline against the log's public key; return the entry.

    Example:
        >>> # see docs/ledger.md for a full round trip; a forged receipt raises
        >>> from tether.ledger._note import Signer
        >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        >>> v = Signer(Ed25519PrivateKey.generate(), "log").verifier
        >>> bad = Receipt(b"{}", "sha256:00", 0, 1, (), "log\\n1\\nAA==\\n")
        >>> try:
        ...     verify_receipt(bad, v)
        ... except VerificationError as e:
        ...     print(type(e).__name__)
        SignatureError

    Raises:
        SignatureError: the checkpoint is not signed by ``verifier``.
        ProofError: the inclusion proof does not lead to the signed root.
        VerificationError: the entry disagrees with the receipt or the payload.
    """
    checkpoint = Checkpoint.open(receipt.checkpoint, verifier)
    if checkpoint.size != receipt.tree_size:
        raise ProofError(
            f"receipt tree_size {receipt.tree_size} differs from its checkpoint's "
            f"size {checkpoint.size}"
        )
    entry = Entry.parse(receipt.entry)
    if entry.index != receipt.leaf_index:
        raise VerificationError(
            f"entry says index {entry.index}, receipt says leaf {receipt.leaf_index}"
        )
    if entry.payload_digest != receipt.payload_digest:
        raise VerificationError("entry's payload digest differs from the receipt's")
    verify_inclusion(
        leaf_hash(receipt.entry),
        receipt.leaf_index,
        checkpoint.size,
        list(receipt.inclusion_proof),
        checkpoint.root,
    )
    if check_payload and payload_digest(canonical_json(payload)) != entry.payload_digest:
        raise VerificationError("payload does not match the entry's payload digest")
    return entry
