"""The tamper-evident ledger: canonical entries, a Merkle log, checkpoints, proofs.

See ``docs/ledger.md`` for the concepts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._lazy import lazy_exports

if TYPE_CHECKING:
    from tether.ledger._canonical import canonical_json
    from tether.ledger._entry import ERASE_KIND, Entry
    from tether.ledger._ledger import Ledger
    from tether.ledger._note import Checkpoint, Signer, Verifier, load_verifier
    from tether.ledger._receipt import Receipt, verify_receipt
    from tether.ledger._verify import Problem, VerifyReport, verify_ledger

_EXPORTS = {
    "canonical_json": "tether.ledger._canonical",
    "Entry": "tether.ledger._entry",
    "ERASE_KIND": "tether.ledger._entry",
    "Ledger": "tether.ledger._ledger",
    "Checkpoint": "tether.ledger._note",
    "Signer": "tether.ledger._note",
    "Verifier": "tether.ledger._note",
    "load_verifier": "tether.ledger._note",
    "Receipt": "tether.ledger._receipt",
    "verify_receipt": "tether.ledger._receipt",
    "Problem": "tether.ledger._verify",
    "VerifyReport": "tether.ledger._verify",
    "verify_ledger": "tether.ledger._verify",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "ERASE_KIND",
    "Checkpoint",
    "Entry",
    "Ledger",
    "Problem",
    "Receipt",
    "Signer",
    "Verifier",
    "VerifyReport",
    "canonical_json",
    "load_verifier",
    "verify_ledger",
    "verify_receipt",
]
