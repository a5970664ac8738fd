"""tether: governed AI automation with a tamper-evident ledger.

The public API is this module's ``__all__``; everything else may change.
"""

from tether.core import Tether
from tether.errors import (
    ConfigurationError,
    InvalidInput,
    KeyFileError,
    NotFound,
    ProofError,
    SchemaVersionError,
    SignatureError,
    StoreError,
    TetherError,
    VerificationError,
)
from tether.ledger import (
    Checkpoint,
    Entry,
    Ledger,
    Receipt,
    Verifier,
    VerifyReport,
    verify_receipt,
)
from tether.settings import Durability, Settings

__version__ = "0.1.0.dev0"

__all__ = [
    "Checkpoint",
    "ConfigurationError",
    "Durability",
    "Entry",
    "InvalidInput",
    "KeyFileError",
    "Ledger",
    "NotFound",
    "ProofError",
    "Receipt",
    "SchemaVersionError",
    "Settings",
    "SignatureError",
    "StoreError",
    "Tether",
    "TetherError",
    "VerificationError",
    "Verifier",
    "VerifyReport",
    "__version__",
    "verify_receipt",
]
