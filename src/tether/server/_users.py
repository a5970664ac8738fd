"""Console users: people who log in with a username and password, and their sessions.

Passwords are hashed with argon2id (``argon2-cffi``'s default parameters; a hash made
with older parameters is replaced at the next successful login). Neither a password nor
its hash is ever logged or put in the ledger. Creating and disabling a user, and a
lockout, are ledger entries (``user.created``, ``user.disabled``, ``user.locked``,
``user.unlocked``).

After :data:`MAX_FAILURES` consecutive failed logins an account is locked for
:data:`LOCKOUT`; while locked, even the right password is refused (and not checked, so
guessing cannot go on during the lock).

Sessions live in the database, so every server process shares them. The cookie carries
a random secret; only its SHA-256 is stored (as for API tokens: 256 random bits need no
slow hash). A session ends after :data:`IDLE_TIMEOUT` without a request, after
:data:`SESSION_LIFETIME` in any case, at logout, and when its user is disabled or its
actor deactivated.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tether.errors import Conflict, InvalidInput, NotFound
from tether.server._errors import Unauthenticated
from tether.server._tokens import Principal
from tether.store import user_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = [
    "IDLE_TIMEOUT",
    "LOCKOUT",
    "MAX_FAILURES",
    "MIN_PASSWORD",
    "SESSION_LIFETIME",
    "USER_ROLES",
    "AccountLocked",
    "LoginFailed",
    "Session",
    "Users",
]

MAX_FAILURES = 5
"""Consecutive failed logins that lock an account."""
LOCKOUT = timedelta(minutes=15)
"""How long a lock lasts."""
IDLE_TIMEOUT = timedelta(minutes=30)
"""A session without a request for this long has ended."""
SESSION_LIFETIME = timedelta(hours=12)
"""A session ends this long after login, however active."""
MIN_PASSWORD = 12
"""Shortest password accepted."""
MAX_PASSWORD = 1024  # longer input is refused before hashing (argon2 of megabytes is a DoS)
USER_ROLES = ("admin", "owner", "approver", "auditor", "operator")
"""Roles a console user may have (``service`` and ``agent`` are for API tokens)."""
SYSTEM_ACTOR = "tether:console"
"""Who records a lockout (no person does)."""

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_TOUCH_EVERY = 60.0  # seconds: how stale ``seen_at`` may get before a request rewrites it


class LoginFailed(Unauthenticated):
    """Unknown user, wrong password or disabled account: deliberately one message."""

    def __init__(self) -> None:
        super().__init__("unknown username or wrong password")


class AccountLocked(LoginFailed):
    """Too many failed logins: the account refuses every login until ``until``."""

    def __init__(self, username: str, until: float) -> None:
        Unauthenticated.__init__(
            self,
            f"account {username!r} is locked until {_utc(until)} after {MAX_FAILURES} "
            f"failed logins; try again then, or ask an admin to run: tether user unlock "
            f"{username}",
        )
        self.until = until


@dataclass(frozen=True, slots=True)
class Session:
    """A live console session: who is logged in, and the CSRF token of their forms."""

    username: str
    principal: Principal
    csrf: str


class Users:
    """Create, list, disable and unlock console users; log them in and out.

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.actors.register("user:ann", kind="human", actor="user:admin")
        >>> users = Users(t)
        >>> users.create("ann", "user:ann", "auditor", "correct horse battery", by="user:admin")
        >>> secret = users.login("ann", "correct horse battery")
        >>> users.session(secret).principal.actor
        'user:ann'
        >>> users.logout(secret)
        >>> users.session(secret) is None
        True
        >>> t.close()
    """

    def __init__(self, tether: Tether, hasher: PasswordHasher | None = None) -> None:
        self._t = tether
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    # -- administration -----------------------------------------------------------------

    def create(
        self,
        username: str,
        actor: str,
        role: str,
        password: str,
        *,
        by: str,
        systems: Sequence[str] | None = None,
    ) -> None:
        """Create a user who logs in as ``username`` and acts as ``actor``.

        Raises:
            InvalidInput: a malformed username, a role not in :data:`USER_ROLES`, an
                actor that is not a registered, active person, an empty scope, or a
                password shorter than :data:`MIN_PASSWORD` characters.
            Conflict: the username is taken.
        """
        if not _USERNAME.fullmatch(username):
            raise InvalidInput(
                f"username {username!r} must be 1-64 lowercase letters, digits, '.', '_' "
                "or '-', starting with a letter or digit"
            )
        if role not in USER_ROLES:
            raise InvalidInput(
                f"user role {role!r} must be one of {', '.join(USER_ROLES)} "
                "(services and agents use API tokens: tether token create)"
            )
        found = self._t.actors.find(actor)
        if found is None or not found.active or found.kind != "human":
            raise InvalidInput(
                f"actor {actor!r} is not a registered, active person: register it first "
                f"(tether actors register {actor} --kind human)"
            )
        check_password(password)
        scope = None if systems is None else tuple(sorted(set(systems)))
        if scope is not None and not scope:
            raise InvalidInput("a user scoped to systems needs at least one system")
        now = self._t.clock.now().timestamp()
        payload = {
            "username": username,
            "actor": actor,
            "role": role,
            "systems": None if scope is None else list(scope),
        }
        mutation = repo.create(username, actor, role, scope, self._hasher.hash(password), by, now)
        self._t.ledger.append(
            "user.created", by, payload, subject=f"user/{username}", mutation=mutation
        )

    def list(self) -> builtins.list[repo.UserRow]:
        """Every user (disabled ones too), by name."""
        with self._t.store.read() as conn:
            return repo.listing(conn)

    def get(self, username: str) -> repo.UserRow:
        """One user.

        Raises:
            NotFound: no such user.
        """
        with self._t.store.read() as conn:
            row = repo.get(conn, username)
        if row is None:
            raise NotFound(f"user {username!r} does not exist: see tether user list")
        return row

    def disable(self, username: str, *, by: str, reason: str = "") -> None:
        """Disable a user: their sessions end and they can no longer log in.

        Raises:
            NotFound: no such user.
            Conflict: the user is already disabled.
        """
        row = self.get(username)
        if row.disabled_at is not None:
            raise Conflict(f"user {username!r} is already disabled")
        now = self._t.clock.now().timestamp()
        self._t.ledger.append(
            "user.disabled", by, {"username": username, "actor": row.actor, "reason": reason},
            subject=f"user/{username}", mutation=repo.disable(username, now),
        )  # fmt: skip

    def unlock(self, username: str, *, by: str, reason: str = "") -> None:
        """Lift a lockout before it runs out.

        Raises:
            NotFound: no such user.
            Conflict: the user is not locked.
        """
        row = self.get(username)
        now = self._t.clock.now().timestamp()
        if row.locked_until is None or row.locked_until <= now:
            raise Conflict(f"user {username!r} is not locked")
        self._t.ledger.append(
            "user.unlocked", by, {"username": username, "reason": reason},
            subject=f"user/{username}", mutation=repo.unlock(username),
        )  # fmt: skip

    # -- logging in -----------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> Principal:
        """Check a username and password; return whom they log in as.

        Raises:
            AccountLocked: the account is locked (the password is not even checked).
            LoginFailed: unknown user, disabled user, inactive actor or wrong password
                (one message for all). The failure counts towards a lockout.
        """
        with self._t.store.read() as conn:
            row = repo.get(conn, username) if _USERNAME.fullmatch(username) else None
        now = self._t.clock.now().timestamp()
        if row is None or row.disabled_at is not None or len(password) > MAX_PASSWORD:
            # Check against a throwaway hash, so that a failure takes as long whether
            # or not the user exists (no enumeration by timing).
            if self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
            self._verify(self._dummy, password[:MAX_PASSWORD])
            raise LoginFailed
        if row.locked_until is not None and row.locked_until > now:
            raise AccountLocked(username, row.locked_until)
        # The attempt counts as a failure before the password is checked (a success
        # resets it): parallel guesses get MAX_FAILURES checks per lockout, no more.
        with self._t.store.write() as conn:
            count = repo.reserve_attempt(conn, username, now, MAX_FAILURES)
        if count is None:  # locked meanwhile, or its last attempts are in flight
            with self._t.store.read() as conn:
                found = repo.get(conn, username)
            until = found.locked_until if found is not None else None
            raise AccountLocked(username, until or now + LOCKOUT.total_seconds())
        if not self._verify(row.password_hash, password):
            if count >= MAX_FAILURES:
                self._lock(row.username, count, now)
            raise LoginFailed
        actor = self._t.actors.find(row.actor)
        if actor is None or not actor.active:
            raise LoginFailed
        with self._t.store.write() as conn:
            repo.reset_failures(conn, username)
            if self._rehash(row.password_hash):
                repo.set_password_hash(conn, username, self._hasher.hash(password))
        return _principal(row)

    def login(self, username: str, password: str) -> str:
        """Authenticate and start a session; return its secret (the cookie's value).

        Raises:
            AccountLocked: see :meth:`authenticate`.
            LoginFailed: see :meth:`authenticate`.
        """
        self.authenticate(username, password)
        secret = secrets.token_urlsafe(32)
        now = self._t.clock.now().timestamp()
        with self._t.store.write() as conn:
            repo.purge_sessions(
                conn,
                now - IDLE_TIMEOUT.total_seconds(),
                now - SESSION_LIFETIME.total_seconds(),
            )
            repo.insert_session(conn, _digest(secret), username, secrets.token_urlsafe(32), now)
        return secret

    def session(self, secret: str) -> Session | None:
        """The live session whose cookie secret is ``secret``, else None.

        Ended sessions (idle, too old, logged out) and those of disabled users or
        inactive actors give None.
        """
        if not secret or len(secret) > 200:
            return None
        digest = _digest(secret)
        with self._t.store.read() as conn:
            found = repo.session(conn, digest)
            user = None if found is None else repo.get(conn, found.username)
        if found is None or user is None or not hmac.compare_digest(found.digest, digest):
            return None
        now = self._t.clock.now().timestamp()
        if (
            now - found.seen_at >= IDLE_TIMEOUT.total_seconds()
            or now - found.created_at >= SESSION_LIFETIME.total_seconds()
            or user.disabled_at is not None
        ):
            return None
        actor = self._t.actors.find(user.actor)
        if actor is None or not actor.active:
            return None
        if now - found.seen_at >= _TOUCH_EVERY:
            with self._t.store.write() as conn:
                repo.touch_session(conn, digest, now)
        return Session(user.username, _principal(user), found.csrf)

    def logout(self, secret: str) -> None:
        """End the session of ``secret`` (nothing happens for an unknown one)."""
        with self._t.store.write() as conn:
            repo.delete_session(conn, _digest(secret))

    # -- internals ----------------------------------------------------------------------

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def _lock(self, username: str, failures: int, now: float) -> None:
        until = now + LOCKOUT.total_seconds()
        self._t.ledger.append(
            "user.locked", SYSTEM_ACTOR,
            {"username": username, "failures": failures, "until": until},
            subject=f"user/{username}", mutation=repo.lock(username, until),
        )  # fmt: skip


def check_password(password: str) -> None:
    """Refuse a password too short or too long to be one.

    Raises:
        InvalidInput: the password is shorter than :data:`MIN_PASSWORD` characters
            or longer than 1024.

    Example:
        >>> check_password("short")
        Traceback (most recent call last):
        ...
        tether.errors.InvalidInput: the password has 5 characters; use at least 12 ...
    """
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"the password has {len(password)} characters; use at least {MIN_PASSWORD} "
            "(a passphrase of a few words is easy to remember)"
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"the password is longer than {MAX_PASSWORD} characters")


def _principal(row: repo.UserRow) -> Principal:
    return Principal(f"user/{row.username}", row.actor, row.role, row.systems)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
