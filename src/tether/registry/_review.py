"""Human-review mode: while a system is in it, every decision of that system waits
for a person.

A response (or a person) puts a system in review mode after, say, a fairness breach:
from then on the pipeline turns each of the system's verdicts that would allow into
``require_approval`` by the mode's approvers (rule ``tether:review-mode``), and adds
that requirement to verdicts that already need an approval, until an owner clears the
mode. Denials stay denials. Rollbacks are exempt so that one is never held up by the
mode it may be part of; every other alias move waits too. Entering and clearing are
ledger entries (``review.entered``, ``review.cleared``); the pipeline reads the modes
through a cache refreshed every ``TETHER_CACHE_SECONDS`` (this process's changes show
at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from tether.errors import ActionDenied, InvalidInput, NotFound
from tether.policy import ApprovalRequirement
from tether.registry._models import ALIAS_ACTION
from tether.store import response_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = ["REVIEW_RULE", "Review", "ReviewMode"]

REVIEW_RULE = "tether:review-mode"


@dataclass(frozen=True, slots=True)
class ReviewMode:
    """A system in human-review mode."""

    system: str
    approvers: tuple[str, ...]  # roles that approve each decision meanwhile
    clear_roles: tuple[str, ...]  # roles that may end it (besides the system's owner)
    reason: str
    since: datetime
    ledger_index: int
    count: int = 1  # distinct approvers each decision needs

    @property
    def requirement(self) -> ApprovalRequirement:
        """What each decision of the system needs while the mode lasts."""
        return ApprovalRequirement(REVIEW_RULE, self.approvers, self.count, None)


class Review:
    """Enter, clear and read human-review mode (``tether.review``).

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.systems.register("loan-model", kind="model", owner="user:ana",
        ...                        risk_tier="high", actor="admin")
        >>> _ = t.actors.register("user:ana", kind="human", roles=[], actor="admin")
        >>> _ = t.review.enter("loan-model", approvers=["credit_officer"], actor="user:ana",
        ...                    reason="impact ratio 0.61 for region=south")
        >>> t.review.mode("loan-model").approvers
        ('credit_officer',)
        >>> _ = t.review.clear("loan-model", actor="user:ana", reason="retrained and checked")
        >>> t.review.mode("loan-model") is None
        True
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, ReviewMode]] | None = None
        self._generation = 0  # bumped by this process's changes: older reads are dropped

    def enter(
        self,
        system: str,
        *,
        approvers: Sequence[str],
        actor: str,
        reason: str,
        count: int = 1,
        clear_roles: Sequence[str] = ("admin",),
        evidence: dict[str, Any] | None = None,
    ) -> int:
        """Put ``system`` in review mode: each decision then needs ``count`` distinct
        people holding one of ``approvers``; return the ledger index of
        ``review.entered``.

        Raises:
            InvalidInput: no approver roles, a count below 1, or no reason.
            Conflict: the system is already in review mode.
        """
        if not approvers:
            raise InvalidInput("review mode needs approver roles: who approves meanwhile?")
        if count < 1:
            raise InvalidInput("review mode needs at least one approver per decision")
        if not reason.strip():
            raise InvalidInput("entering review mode needs a reason (it is recorded)")
        roles = {"approvers": list(approvers), "count": count, "clear_roles": list(clear_roles)}
        now = self._t.clock.now().timestamp()
        entry = self._t.ledger.append(
            "review.entered", actor,
            {"system": system, **roles, "reason": reason, "evidence": evidence},
            subject=f"system/{system}/review",
            mutation=repo.enter_review(system, orjson.dumps(roles).decode(), reason, now),
        )  # fmt: skip
        self._forget()
        return entry.index

    def clear(self, system: str, *, actor: str, reason: str) -> int:
        """End review mode: only a person who owns the system (its owner, or a member
        of the owning team's role) or holds one of the mode's ``clear_roles`` may.

        Raises:
            NotFound: the system is not in review mode.
            ActionDenied: ``actor`` may not clear it.
            InvalidInput: no reason.
        """
        if not reason.strip():
            raise InvalidInput("clearing review mode needs a reason (it is recorded)")
        mode = self.mode(system, fresh=True)
        if mode is None:
            raise NotFound(f"{system} is not in human-review mode")
        who = self._t.actors.find(actor)
        owner = self._t.systems.find(system)
        owns = (
            owner is not None
            and who is not None
            and (actor == owner.owner or owner.owner in who.roles)
        )
        if (
            who is None
            or not who.active
            or who.kind != "human"
            or not (owns or set(who.roles) & set(mode.clear_roles))
        ):
            raise ActionDenied(
                f"{actor!r} may not clear review mode of {system}: only a person who owns "
                f"it or holds one of {list(mode.clear_roles)} may"
            )
        entry = self._t.ledger.append(
            "review.cleared", actor, {"system": system, "reason": reason},
            subject=f"system/{system}/review", mutation=repo.clear_review(system),
        )  # fmt: skip
        self._forget()
        return entry.index

    def mode(self, system: str, *, fresh: bool = False) -> ReviewMode | None:
        """The system's review mode, or None (cached unless ``fresh``)."""
        return self.modes(fresh=fresh).get(system)

    def modes(self, *, fresh: bool = False) -> dict[str, ReviewMode]:
        """Every system in review mode (read again after ``TETHER_CACHE_SECONDS``)."""
        now = time.monotonic()
        hit = self._cache
        if not fresh and hit is not None and now - hit[0] < self._t.settings.cache_seconds:
            return hit[1]
        generation = self._generation
        with self._t.store.read() as conn:
            rows = repo.reviews(conn)
        modes = {name: _mode(row) for name, row in rows.items()}
        with self._lock:  # a read that began before a change here must not be kept
            if generation == self._generation:
                self._cache = (now, modes)
        return modes

    def applies(self, system: str, action: str, inputs: Any = None) -> ReviewMode | None:
        """The mode that holds this action for a person, if any (the pipeline asks).
        Only a rollback is exempt (it must stay possible); every other alias move of
        the system waits too."""
        if action == ALIAS_ACTION and isinstance(inputs, dict) and inputs.get("kind") == "rollback":
            return None
        return self.modes().get(system)

    def _forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._cache = None


def _mode(row: dict[str, Any]) -> ReviewMode:
    roles = orjson.loads(row["roles"])
    return ReviewMode(
        row["system"], tuple(roles["approvers"]), tuple(roles["clear_roles"]), row["reason"],
        datetime.fromtimestamp(row["since"], UTC), int(row["ledger_index"]),
        int(roles.get("count", 1)),
    )  # fmt: skip
