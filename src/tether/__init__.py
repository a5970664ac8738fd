"""tether: governed AI automation with a tamper-evident ledger.

The public API is this module's ``__all__``; everything else may change. Names are
imported on first use, so ``import tether`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether import errors as _errors
from tether._lazy import lazy_exports

if TYPE_CHECKING:
    from tether.core import Tether, open
    from tether.errors import (
        ActionDenied,
        ApprovalRequired,
        CircuitOpen,
        ConfigurationError,
        Conflict,
        GateFailed,
        GuardrailBlocked,
        InvalidInput,
        KeyFileError,
        NotFound,
        PolicyError,
        ProofError,
        RateLimited,
        RunStopped,
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

_LEDGER = ["Checkpoint", "Entry", "Ledger", "Receipt", "Verifier", "VerifyReport", "verify_receipt"]
_EXPORTS = {
    "Tether": "tether.core",
    "open": "tether.core",
    "Durability": "tether.settings",
    "Settings": "tether.settings",
    **dict.fromkeys(_errors.__all__, "tether.errors"),
    **dict.fromkeys(_LEDGER, "tether.ledger"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "ActionDenied",
    "ApprovalRequired",
    "Checkpoint",
    "CircuitOpen",
    "ConfigurationError",
    "Conflict",
    "Durability",
    "Entry",
    "GateFailed",
    "GuardrailBlocked",
    "InvalidInput",
    "KeyFileError",
    "Ledger",
    "NotFound",
    "PolicyError",
    "ProofError",
    "RateLimited",
    "Receipt",
    "RunStopped",
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
    "open",
    "verify_receipt",
]
