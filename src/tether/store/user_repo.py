"""Repository of console users and their sessions (password hashes and secret digests only).

User rows are projections of ledger entries (``user.created``, ``user.disabled``,
``user.locked``, ``user.unlocked``: the :class:`Mutation` builders below); the count of
failed logins, password rehashes and sessions are operational state written directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, or_, select, update

from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import console_sessions, users

__all__ = [
    "SessionRow",
    "UserRow",
    "create",
    "delete_session",
    "disable",
    "get",
    "insert_session",
    "listing",
    "lock",
    "purge_sessions",
    "reserve_attempt",
    "reset_failures",
    "session",
    "set_password_hash",
    "touch_session",
    "unlock",
]


@dataclass(frozen=True, slots=True)
class UserRow:
    """A console user as stored."""

    username: str
    actor: str
    role: str
    systems: tuple[str, ...] | None
    password_hash: str
    created_by: str
    created_at: float
    disabled_at: float | None
    failed_logins: int
    locked_until: float | None
    ledger_index: int


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A console session as stored (``digest``: SHA-256 of the cookie's secret)."""

    digest: str
    username: str
    csrf: str
    created_at: float
    seen_at: float


_USER = (
    users.c.username,
    users.c.actor,
    users.c.role,
    users.c.systems,
    users.c.password_hash,
    users.c.created_by,
    users.c.created_at,
    users.c.disabled_at,
    users.c.failed_logins,
    users.c.locked_until,
    users.c.ledger_index,
)

# -- ledger projections ---------------------------------------------------------------


def create(
    username: str,
    actor: str,
    role: str,
    systems: tuple[str, ...] | None,
    password_hash: str,
    created_by: str,
    at: float,
) -> Mutation:
    """Insert a user row (carried by its ``user.created`` entry); a taken name conflicts."""
    sql = (
        "INSERT INTO users (username, actor, role, systems, password_hash, created_by, "
        "created_at, disabled_at, failed_logins, locked_until, ledger_index) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, ?)"
    )
    scope = None if systems is None else orjson.dumps(list(systems)).decode()
    params = (username, actor, role, scope, password_hash, created_by, at, ENTRY_INDEX)
    return Mutation(
        (Statement(sql, params, expect_rows=1),),
        conflict=f"user {username!r} already exists: see tether user list",
    )


def disable(username: str, at: float) -> Mutation:
    """Disable a live user and end every session of theirs."""
    return Mutation(
        (
            Statement(
                "UPDATE users SET disabled_at = ? WHERE username = ? AND disabled_at IS NULL",
                (at, username),
                expect_rows=1,
            ),
            Statement("DELETE FROM console_sessions WHERE username = ?", (username,)),
        ),
        conflict=f"user {username!r} was disabled meanwhile",
    )


def lock(username: str, until: float) -> Mutation:
    """Lock a user until ``until`` and restart the count of failures."""
    sql = "UPDATE users SET locked_until = ?, failed_logins = 0 WHERE username = ?"
    return Mutation((Statement(sql, (until, username), expect_rows=1),))


def unlock(username: str) -> Mutation:
    """Lift a lock (and forget the failures) before it runs out."""
    sql = "UPDATE users SET locked_until = NULL, failed_logins = 0 WHERE username = ?"
    return Mutation((Statement(sql, (username,), expect_rows=1),))


# -- reads ----------------------------------------------------------------------------


def get(conn: Connection, username: str) -> UserRow | None:
    """One user by name, or None."""
    row = conn.execute(select(*_USER).where(users.c.username == username)).first()
    return None if row is None else _user(row)


def listing(conn: Connection) -> list[UserRow]:
    """Every user (disabled ones too), by name."""
    return [_user(r) for r in conn.execute(select(*_USER).order_by(users.c.username))]


# -- operational updates --------------------------------------------------------------


def reserve_attempt(conn: Connection, username: str, now: float, most: int) -> int | None:
    """Count a login attempt as failed *before* its password is checked (a success
    resets the count), so that parallel guesses cannot outrun the lockout: return the
    new count, or None when the account is locked or ``most`` attempts are already
    counted (one atomic UPDATE; the row stays locked until the transaction ends)."""
    done = conn.execute(
        update(users)
        .where(
            users.c.username == username,
            or_(users.c.locked_until.is_(None), users.c.locked_until <= now),
            users.c.failed_logins < most,
        )
        .values(failed_logins=users.c.failed_logins + 1)
    )
    if done.rowcount != 1:
        return None
    count = conn.execute(
        select(users.c.failed_logins).where(users.c.username == username)
    ).scalar_one()
    return int(count)


def reset_failures(conn: Connection, username: str) -> None:
    """Forget the failed logins (after a successful one) and an expired lock."""
    conn.execute(
        update(users).where(users.c.username == username).values(failed_logins=0, locked_until=None)
    )


def set_password_hash(conn: Connection, username: str, password_hash: str) -> None:
    """Replace a password hash (a rehash with current argon2 parameters)."""
    conn.execute(
        update(users).where(users.c.username == username).values(password_hash=password_hash)
    )


# -- sessions -------------------------------------------------------------------------


def insert_session(conn: Connection, digest: str, username: str, csrf: str, now: float) -> None:
    """Store a new session."""
    conn.execute(
        console_sessions.insert().values(
            digest=digest, username=username, csrf=csrf, created_at=now, seen_at=now
        )
    )


def session(conn: Connection, digest: str) -> SessionRow | None:
    """The session whose secret hashes to ``digest``, or None."""
    row = conn.execute(
        select(
            console_sessions.c.digest,
            console_sessions.c.username,
            console_sessions.c.csrf,
            console_sessions.c.created_at,
            console_sessions.c.seen_at,
        ).where(console_sessions.c.digest == digest)
    ).first()
    if row is None:
        return None
    return SessionRow(str(row[0]), str(row[1]), str(row[2]), float(row[3]), float(row[4]))


def touch_session(conn: Connection, digest: str, now: float) -> None:
    """Record activity on a session (its idle timeout restarts)."""
    conn.execute(
        update(console_sessions).where(console_sessions.c.digest == digest).values(seen_at=now)
    )


def delete_session(conn: Connection, digest: str) -> None:
    """End one session."""
    conn.execute(delete(console_sessions).where(console_sessions.c.digest == digest))


def purge_sessions(conn: Connection, idle_before: float, created_before: float) -> int:
    """Delete sessions idle since before ``idle_before`` or created before
    ``created_before``; return how many."""
    result = conn.execute(
        delete(console_sessions).where(
            or_(
                console_sessions.c.seen_at < idle_before,
                console_sessions.c.created_at < created_before,
            )
        )
    )
    return int(result.rowcount or 0)


def _user(r: Any) -> UserRow:
    systems = None if r[3] is None else tuple(orjson.loads(r[3]))
    return UserRow(
        str(r[0]), str(r[1]), str(r[2]), systems, str(r[4]), str(r[5]), float(r[6]),
        None if r[7] is None else float(r[7]), int(r[8]),
        None if r[9] is None else float(r[9]), int(r[10]),
    )  # fmt: skip
