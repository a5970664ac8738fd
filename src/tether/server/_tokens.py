"""API tokens: who a request to the server speaks for, in which role, for which systems.

A token is a random secret shown once at creation. Only its SHA-256 digest is stored,
so a copy of the database gives no usable credential. SHA-256 and not argon2: argon2
(or bcrypt, scrypt) exists to slow down guessing of *low-entropy* secrets such as
passwords; a token carries 256 random bits, which no amount of guessing reaches, so a
slow hash would only add tens of milliseconds to every request for no gain. Passwords
of the console (not built yet) will use argon2.

Creating and revoking a token are ledger entries (``token.created``,
``token.revoked``) that never contain the secret or its digest.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
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

    def __init__(self, tether: Tether) -> None:
        self._t = tether

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
        self._t.ledger.append(
            "token.revoked", by, {"token": token_id, "actor": row.actor, "reason": reason},
            subject=f"token/{token_id}", mutation=repo.revoke(token_id, now),
        )  # fmt: skip

    def verify(self, secret: str) -> Principal | None:
        """The principal of a live token whose secret is ``secret``, else None.

        Unknown, revoked and expired tokens, and tokens whose actor was deactivated,
        all give None. The lookup is by the digest of the secret, so how long it takes
        says nothing about the secret; the final comparison is constant-time.
        """
        if not secret or len(secret) > _MAX_SECRET:
            return None
        digest = _digest(secret)
        with self._t.store.read() as conn:
            row = repo.by_digest(conn, digest)
        if row is None or not hmac.compare_digest(row.digest, digest):
            return None
        now = self._t.clock.now().timestamp()
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        actor = self._t.actors.find(row.actor)
        if actor is None or not actor.active:
            return None
        return Principal(row.id, row.actor, row.role, row.systems)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
