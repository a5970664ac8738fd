"""The tamper-evident ledger: canonical entries, a Merkle log, checkpoints, proofs.

See ``docs/ledger.md`` for the concepts.
"""

from tether.ledger._canonical import canonical_json
from tether.ledger._entry import Entry
from tether.ledger._ledger import ERASE_KIND, Ledger
from tether.ledger._note import Checkpoint, Signer, Verifier, load_verifier
from tether.ledger._receipt import Receipt, verify_receipt
from tether.ledger._verify import Problem, VerifyReport, verify_ledger

__all__ = [
    "ERASE_KIND",
    "Checkpoint",
    "Entry",
    "Ledger",
    "Problem",
    "Receipt",
    "Signer",
    "VerifyReport",
    "Verifier",
    "canonical_json",
    "load_verifier",
    "verify_ledger",
    "verify_receipt",
]
