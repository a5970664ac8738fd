"""API tokens: who a request to the server speaks for, in which role, for which systems.

A token is a random secret shown once at creation. Only its SHA-256 digest is stored,
so a copy of the database gives no usable credential. SHA-256 and not argon2: argon2
(or bcrypt, scrypt) exists to slow down guessing of *low-entropy* secrets such as
passwords; a token carries 256 random bits, which no amount of guessing reaches, so a
slow hash would only add tens of milliseconds to every request for no gain. Passwords
of the console (not built yet) will use argon2.

Creating and revoking a token are ledger entries (``token.created``,
``token.revoked``) that never contain the secret or its digest.

Verifying a token happens on every request, so it must not cost a database read each
time. A process keeps the rows of the tokens it verified, by digest, and drops them:

- at once when a token is revoked in this process (by any :class:`Tokens`);
- on SQLite, when another process revoked one: a revocation writes a small
  ``<database>-tokens`` file that every process maps into memory, so a verifier sees
  it at once, for the cost of comparing 8 bytes (see :class:`_Signal`);
- after ``TETHER_CACHE_SECONDS`` in any case (should the signal file be unwritable).

On PostgreSQL (processes on several machines) the row is read on every request
through a bare connection, as the breakers are. Expiry is checked on every request;
a deactivated actor's tokens stop working within ``TETHER_CACHE_SECONDS`` (the actor
cache the pipeline decides with; at once in the process that deactivated it).
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import mmap
import os
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from tether._ids import new_id
from tether.errors import InvalidInput, NotFound
from tether.store import token_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = ["ROLES", "Principal", "Tokens"]

ROLES = ("admin", "owner", "approver", "auditor", "operator", "service", "agent")
"""Token roles; what each may call is documented in docs/server.md."""

_PREFIX = "tether_"
_MAX_SECRET = 200  # longer "secrets" are refused before hashing
_MAX_CACHED = 10_000  # verified tokens kept per process (a bound, not a working size)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an authenticated request speaks for.

    Example:
        >>> p = Principal("tok_1", "svc:loans", "service", ("loan-model",))
        >>> p.covers("loan-model"), p.covers("other")
        (True, False)
    """

    token_id: str
    actor: str
    role: str
    systems: tuple[str, ...] | None = None
    """The systems the token is scoped to; None: every system."""

    def covers(self, system: str) -> bool:
        """True when the token's scope includes ``system``."""
        return self.systems is None or system in self.systems


class Tokens:
    """Create, list, revoke and verify API tokens.

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.actors.register("svc:loans", kind="service", actor="user:admin")
        >>> tokens = Tokens(t)
        >>> token_id, secret = tokens.create("svc:loans", "service", by="user:admin")
        >>> tokens.verify(secret).actor
        'svc:loans'
        >>> tokens.revoke(token_id, by="user:admin")
        >>> tokens.verify(secret) is None
        True
        >>> t.close()
    """

    _revocations = 0
    """Revocations made in this process (by any instance): a change drops every cache."""
    _revocations_lock = threading.Lock()

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self._ttl = tether.settings.cache_seconds
        # digest -> (when read, the epoch it was read under, the row)
        self._rows: dict[str, tuple[float, tuple[int, bytes], repo.TokenRow]] = {}
        database = tether.store.engine.url.database or ""
        self._read_always = tether.store.dialect != "sqlite"
        self._signal: _Signal | None = (
            _Signal(database + "-tokens")
            if not self._read_always and database not in ("", ":memory:")
            else None
        )

    def create(
        self,
        actor: str,
        role: str,
        *,
        by: str,
        systems: Sequence[str] | None = None,
        expires: timedelta | None = None,
    ) -> tuple[str, str]:
        """Create a token for ``actor``; return ``(token_id, secret)``.

        The secret is returned this once and never stored; ``systems`` scopes the
        token (None: every system); ``expires`` is its lifetime (None: until revoked).

        Raises:
            InvalidInput: an unknown role, an unregistered or inactive actor, an agent
                given a role other than ``agent`` (or the reverse), an empty scope or
                a non-positive lifetime.
        """
        if role not in ROLES:
            raise InvalidInput(f"token role {role!r} must be one of {', '.join(ROLES)}")
        found = self._t.actors.find(actor)
        if found is None or not found.active:
            raise InvalidInput(
                f"actor {actor!r} is not a registered, active actor: tether actors register"
            )
        if (found.kind == "agent") != (role == "agent"):
            raise InvalidInput(
                f"actor {actor!r} is a {found.kind}: agents get role 'agent', and only agents"
            )
        scope = None if systems is None else tuple(sorted(set(systems)))
        if scope is not None and not scope:
            raise InvalidInput("a token scoped to systems needs at least one system")
        if expires is not None and expires.total_seconds() <= 0:
            raise InvalidInput(f"token lifetime {expires} must be positive")
        now = self._t.clock.now().timestamp()
        expires_at = None if expires is None else now + expires.total_seconds()
        token_id = new_id("tok_")
        secret = _PREFIX + secrets.token_urlsafe(32)
        payload = {
            "token": token_id,
            "actor": actor,
            "role": role,
            "systems": None if scope is None else list(scope),
            "expires_at": expires_at,
        }
        mutation = repo.create(token_id, _digest(secret), actor, role, scope, by, now, expires_at)
        self._t.ledger.append(
            "token.created", by, payload, subject=f"token/{token_id}", mutation=mutation
        )
        return token_id, secret

    def list(self) -> builtins.list[repo.TokenRow]:
        """Every token (revoked and expired ones too), oldest first."""
        with self._t.store.read() as conn:
            return repo.listing(conn)

    def revoke(self, token_id: str, *, by: str, reason: str = "") -> None:
        """Revoke a token: from now on it authenticates nothing.

        Raises:
            NotFound: no such token.
            Conflict: it is already revoked.
        """
        with self._t.store.read() as conn:
            row = repo.get(conn, token_id)
        if row is None:
            raise NotFound(f"token {token_id!r} does not exist: see tether token list")
        now = self._t.clock.now().timestamp()
        try:
            self._t.ledger.append(
                "token.revoked", by, {"token": token_id, "actor": row.actor, "reason": reason},
                subject=f"token/{token_id}", mutation=repo.revoke(token_id, now),
            )  # fmt: skip
        finally:  # a conflict means another process revoked it: forget it here too
            self._changed()

    def verify(self, secret: str) -> Principal | None:
        """The principal of a live token whose secret is ``secret``, else None.

        Unknown, revoked and expired tokens, and tokens whose actor was deactivated,
        all give None. The lookup is by the digest of the secret, so how long it takes
        says nothing about the secret; the final comparison is constant-time.
        """
        if not secret or len(secret) > _MAX_SECRET:
            return None
        digest = _digest(secret)
        row = self._row(digest)
        if row is None or not hmac.compare_digest(row.digest, digest):
            return None
        now = self._t.clock.now().timestamp()
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        actor = self._t.actors.cached(row.actor)
        if actor is None or not actor.active:
            return None
        return Principal(row.id, row.actor, row.role, row.systems)

    def _row(self, digest: str) -> repo.TokenRow | None:
        """The stored token of ``digest``: from this process's cache while no
        revocation was signalled since it was read (see the module docstring)."""
        if self._read_always:
            return repo.by_digest_hot(self._t.store.hot, digest)
        epoch = self._epoch()
        now = time.monotonic()
        hit = self._rows.get(digest)
        if hit is not None and hit[1] == epoch and now - hit[0] < self._ttl:
            return hit[2]
        with self._t.store.read() as conn:
            row = repo.by_digest(conn, digest)
        if row is not None:  # unknown secrets are not kept: they would grow the cache
            if len(self._rows) >= _MAX_CACHED:
                self._rows = {}
            # Tagged with the epoch seen *before* the read: a revocation committed
            # meanwhile changes the epoch, so this row is never served after it.
            self._rows[digest] = (now, epoch, row)
        return row

    def _epoch(self) -> tuple[int, bytes]:
        """What has to stay equal for a cached row to be served: the revocations
        made in this process and, on a SQLite file, the revocation signal's value."""
        signal = self._signal
        return (Tokens._revocations, b"" if signal is None else signal.value())

    def _changed(self) -> None:
        """Tell this process (every instance) and, on SQLite, every other process
        that a token was revoked."""
        with Tokens._revocations_lock:
            Tokens._revocations += 1
        if self._signal is not None:
            self._signal.touch()


class _Signal:
    """A change signal shared by the processes using one SQLite file: 8 bytes in a
    small file beside it, mapped into memory (as SQLite maps its ``-shm`` file).

    A change writes 8 fresh random bytes; a reader compares the bytes it saw, which
    is a memory read: no system call, so the event loop never gives up the GIL
    (with a busy writer thread, each syscall on the loop can cost a GIL hand-off,
    far more than the call). When the file cannot be made or mapped, the value
    stays ``b""`` and the cache's TTL bounds staleness instead.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "db-tokens")
        >>> a, b = _Signal(path), _Signal(path)
        >>> before = a.value()
        >>> b.touch()
        >>> a.value() != before
        True
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._map: mmap.mmap | None = None
        self._failed = False  # tried once and failed: not again on every request
        self._lock = threading.Lock()

    def value(self) -> bytes:
        """The signal's current bytes (``b""`` when it is unavailable)."""
        m = self._map
        if m is None:
            m = self._open()
            if m is None:
                return b""
        return m[:8]

    def touch(self) -> None:
        """Signal a change to every process (this one included)."""
        m = self._map or self._open()
        if m is not None:
            m[:8] = os.urandom(8)

    def _open(self) -> mmap.mmap | None:
        with self._lock:
            if self._map is not None or self._failed:
                return self._map
            try:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    if os.fstat(fd).st_size < 8:
                        os.ftruncate(fd, 8)
                    self._map = mmap.mmap(fd, 8, access=mmap.ACCESS_WRITE)
                finally:
                    os.close(fd)
            except (OSError, ValueError):
                self._failed = True
                return None
            return self._map


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
