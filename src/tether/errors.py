"""The one exception tree of tether.

Every error tether raises on purpose is a :class:`TetherError`. Each class also
subclasses the builtin it most resembles, so ``except LookupError`` keeps working::

    TetherError(Exception)
    ├── ConfigurationError(TetherError, ValueError)   settings, home, key files
    │   └── KeyFileError                              a missing or unreadable key
    ├── InvalidInput(TetherError, ValueError)         bad arguments or documents
    │   └── PolicyError                               a policy file that does not load
    ├── NotFound(TetherError, LookupError)            no such entry, checkpoint, ...
    ├── Conflict(TetherError, RuntimeError)           the state changed: reload, retry
    ├── ActionDenied(TetherError, PermissionError)    the pipeline did not let an action run
    │   ├── ApprovalRequired                          a person must approve it first
    │   ├── CircuitOpen                               a breaker or kill switch is open
    │   ├── GateFailed                                a model version failed its gates
    │   ├── GuardrailBlocked                          a guardrail blocked input or output
    │   ├── RateLimited                               too many actions, retry later
    │   └── RunStopped                                its run failed or spent its budget
    ├── StoreError(TetherError, RuntimeError)         the database cannot serve us
    │   └── SchemaVersionError                        the schema is newer than this code
    └── VerificationError(TetherError, ValueError)    something does not verify
        ├── ProofError                                a Merkle proof is wrong
        └── SignatureError                            a signature or checkpoint is wrong

Messages name the object, the bad value and the fix. Domain errors carry no HTTP
status codes: the server maps types to statuses in one place.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ActionDenied",
    "ApprovalRequired",
    "CircuitOpen",
    "ConfigurationError",
    "Conflict",
    "GateFailed",
    "GuardrailBlocked",
    "InvalidInput",
    "KeyFileError",
    "NotFound",
    "PolicyError",
    "ProofError",
    "RateLimited",
    "RunStopped",
    "SchemaVersionError",
    "SignatureError",
    "StoreError",
    "TetherError",
    "VerificationError",
]


class TetherError(Exception):
    """Root of every error tether raises on purpose."""


class ConfigurationError(TetherError, ValueError):
    """A setting, the home folder or a key file is wrong."""


class KeyFileError(ConfigurationError):
    """A signing or public key file is missing, unreadable or corrupt."""


class InvalidInput(TetherError, ValueError):
    """An argument or document given to tether is malformed."""


class PolicyError(InvalidInput):
    """A policy (or policy test file) does not load; ``problems`` lists every finding.

    Each problem is one line, ``file:line:column: what is wrong (hint)``; the message
    is all of them. A policy that fails to load never replaces the one in force.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class NotFound(TetherError, LookupError):
    """The requested object does not exist."""


class Conflict(TetherError, RuntimeError):
    """The state changed under the caller (an approval already resolved, a name taken)."""


class ActionDenied(TetherError, PermissionError):
    """The pipeline did not let an action run; ``decision`` is the recorded decision."""

    def __init__(self, message: str, decision: Any = None) -> None:
        super().__init__(message)
        self.decision = decision


class ApprovalRequired(ActionDenied):
    """The action waits for a person; ``approval_id`` is what to approve or poll."""

    def __init__(self, message: str, decision: Any = None, approval_id: str = "") -> None:
        super().__init__(message, decision)
        self.approval_id = approval_id


class CircuitOpen(ActionDenied):
    """A circuit breaker (or a kill switch) for the system, action or agent is open."""


class GateFailed(ActionDenied):
    """A promotion was refused because the version failed gates: ``failing`` holds the
    failing gates' results, ``report`` the gate report they come from.

    An :class:`ActionDenied` (not a :class:`Conflict`): governance refused the move and
    retrying changes nothing; new evidence (a fresh evaluation, a sign-off) or a
    justified override by a second person does.
    """

    def __init__(self, message: str, failing: Any = (), report: Any = None) -> None:
        super().__init__(message)
        self.failing = tuple(failing)
        self.report = report


class GuardrailBlocked(ActionDenied):
    """A guardrail blocked the action's input or its output."""


class RateLimited(ActionDenied):
    """The actor exceeded a rate limit; ``retry_after`` says when to try again (s)."""

    def __init__(self, message: str, decision: Any = None, retry_after: float = 0.0) -> None:
        super().__init__(message, decision)
        self.retry_after = retry_after


class RunStopped(ActionDenied):
    """The run this action belongs to failed, was stopped, or spent its budget."""


class StoreError(TetherError, RuntimeError):
    """The database cannot be opened or used."""


class SchemaVersionError(StoreError):
    """The database schema is newer (or older) than this version of tether expects."""


class VerificationError(TetherError, ValueError):
    """Something that should verify does not."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not verify."""


class SignatureError(VerificationError):
    """A signature, signed note or checkpoint does not verify."""
