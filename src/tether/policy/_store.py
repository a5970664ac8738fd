"""Published policies: versions, the one in force, and a shadow candidate.

Publishing writes a ``policy.published`` entry holding the policy's content hash and
its full text, so any decision can later be replayed against the exact policy that
made it. A process keeps the enforced policy in memory and looks for a newer
publication at most every ``TETHER_CACHE_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tether.errors import InvalidInput, NotFound
from tether.policy._policy import Policy
from tether.store import policy_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = ["Policies", "Published"]

Mode = Literal["enforced", "shadow"]


@dataclass(frozen=True, slots=True)
class Published:
    """One published policy version."""

    version: int
    name: str
    sha256: str
    mode: str
    published_at: float
    published_by: str
    ledger_index: int
    policy: Policy


class Policies:
    """Publish policies and serve the one in force (``tether.policies``).

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> t.policies.enforced() is None
        True
        >>> text = '''
        ... policy: p
        ... systems: [bot]
        ... actions: [ping]
        ... rules: [{id: all, effect: allow}]
        ... '''
        >>> pub = t.policies.publish(Policy.from_text(text), actor="user:ana")
        >>> (pub.version, t.policies.enforced().version, t.ledger.get(pub.ledger_index).kind)
        (1, 1, 'policy.published')
        >>> t.close()
    """

    def __init__(self, tether: Tether, cache_seconds: float) -> None:
        self._t = tether
        self._ttl = cache_seconds
        self._lock = threading.Lock()
        self._checked = -1.0e18
        self._seen = -1
        self._enforced: Published | None = None
        self._shadow: Published | None = None

    def publish(
        self, policy: Policy | str | Path, *, actor: str, mode: Mode = "enforced"
    ) -> Published:
        """Publish ``policy`` (a loaded one or a file path) as the enforced policy or
        as the shadow candidate; systems it declares that the inventory lacks are
        registered from the file.

        Raises:
            PolicyError: the file does not load (nothing is published).
            InvalidInput: ``mode`` is not enforced or shadow.
        """
        if mode not in ("enforced", "shadow"):
            raise InvalidInput(f"mode {mode!r} must be 'enforced' or 'shadow'")
        if not isinstance(policy, Policy):
            policy = Policy.from_file(policy)
        for name, decl in policy.systems.items():
            if self._t.systems.find(name) is None:
                self._t.systems.register(
                    name, kind=decl.kind, owner=decl.owner or "unassigned",
                    risk_tier=decl.risk_tier, purpose=decl.purpose,
                    environments=decl.environments, actor=actor,
                )  # fmt: skip
        return self._write(policy, mode, actor)

    def clear_shadow(self, *, actor: str) -> None:
        """Stop evaluating the shadow candidate."""
        current = self.shadow()
        if current is None:
            raise NotFound("there is no shadow policy to clear")
        self._write(current.policy, "shadow-cleared", actor)

    def _write(self, policy: Policy, mode: str, actor: str) -> Published:
        now = self._t.clock.now().timestamp()
        payload = {
            "name": policy.name,
            "sha256": policy.sha256,
            "mode": mode,
            "rules": [r.id for r in policy.rules],
            "source": policy.source,
        }
        entry = self._t.ledger.append(
            "policy.published", actor, payload, subject=f"policy/{policy.name}",
            mutation=repo.publish(policy.name, policy.sha256, policy.source, mode, now, actor),
        )  # fmt: skip
        with self._lock:
            self._checked = -1.0e18  # look again on the next read
        with self._t.store.read() as conn:
            row = next(r for r in repo.rows(conn) if r.ledger_index == entry.index)
        return _published(row, policy)

    def enforced(self) -> Published | None:
        """The policy in force (None before the first publication)."""
        self._refresh()
        return self._enforced

    def shadow(self) -> Published | None:
        """The shadow candidate evaluated beside the enforced policy, if any."""
        self._refresh()
        return self._shadow

    def history(self) -> list[Published]:
        """Every publication, oldest first."""
        with self._t.store.read() as conn:
            rows = repo.rows(conn)
        return [_published(r, Policy.from_text(r.source, f"policy v{r.version}")) for r in rows]

    def version(self, number: int) -> Published:
        """Publication ``number``.

        Raises:
            NotFound: no such version.
        """
        for pub in self.history():
            if pub.version == number:
                return pub
        raise NotFound(f"policy version {number} was never published")

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self._ttl:
            return
        with self._lock:
            if now - self._checked < self._ttl:
                return
            with self._t.store.read() as conn:
                newest = repo.current_version(conn)
                if newest != self._seen:
                    enforced = repo.latest(conn, ("enforced",))
                    shadow = repo.latest(conn, ("shadow", "shadow-cleared"))
                    self._enforced = self._load(enforced, self._enforced)
                    self._shadow = (
                        self._load(shadow, self._shadow)
                        if shadow is not None and shadow.mode == "shadow"
                        else None
                    )
                    self._seen = newest
            self._checked = now

    @staticmethod
    def _load(row: repo.PolicyRow | None, current: Published | None) -> Published | None:
        if row is None:
            return None
        if current is not None and current.version == row.version:
            return current
        return _published(row, Policy.from_text(row.source, f"policy v{row.version}"))


def _published(row: repo.PolicyRow, policy: Policy) -> Published:
    return Published(
        row.version, row.name, row.sha256, row.mode, row.published_at, row.published_by,
        row.ledger_index, policy,
    )  # fmt: skip
