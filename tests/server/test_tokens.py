"""API tokens: stored as digests only, shown once, expire, revoke, refuse bad input."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select, update

from tether import Conflict, InvalidInput, NotFound, Tether
from tether.server import Tokens
from tether.server._tokens import _Signal
from tether.store import token_repo
from tether.store.tables import tokens as tokens_table
from tether.testing import FrozenClock

from .conftest import governed


def test_only_the_digest_is_stored_and_the_ledger_holds_neither(gov: Tether) -> None:
    token_id, secret = Tokens(gov).create("svc:scoring", "service", by="user:root",
                                          systems=["loan-model"])  # fmt: skip
    digest = hashlib.sha256(secret.encode()).hexdigest()
    with gov.store.read() as conn:
        row = conn.execute(select(tokens_table)).mappings().one()
    assert (token_id, digest, '["loan-model"]') == (row["id"], row["digest"], row["systems"])
    assert secret not in repr(dict(row))
    entry = gov.ledger.tail(1)[0]
    assert ("token.created", "user:root", f"token/{token_id}") == (
        entry.kind,
        entry.actor,
        entry.subject,
    )
    text = orjson.dumps(entry.payload).decode()
    assert secret not in text
    assert digest not in text


def test_a_token_verifies_to_its_principal(gov: Tether) -> None:
    tokens = Tokens(gov)
    token_id, secret = tokens.create("svc:scoring", "service", by="user:root",
                                     systems=["loan-model", "loan-model"])  # fmt: skip
    p = tokens.verify(secret)
    assert p is not None
    assert (token_id, "svc:scoring", "service", ("loan-model",)) == (
        p.token_id,
        p.actor,
        p.role,
        p.systems,
    )
    assert tokens.verify(secret + "x") is None
    assert tokens.verify("") is None
    assert tokens.verify("x" * 10_000) is None


def test_an_expired_token_is_refused(gov: Tether, clock: FrozenClock) -> None:
    tokens = Tokens(gov)
    _, secret = tokens.create("svc:scoring", "service", by="user:root",
                              expires=timedelta(days=30))  # fmt: skip
    clock.advance(days=29, hours=23)
    assert tokens.verify(secret) is not None
    clock.advance(hours=1)
    assert tokens.verify(secret) is None


def test_a_revoked_token_is_refused_and_revocation_is_recorded(gov: Tether) -> None:
    tokens = Tokens(gov)
    token_id, secret = tokens.create("svc:scoring", "service", by="user:root")
    tokens.revoke(token_id, by="user:root", reason="leaked in a log")
    assert tokens.verify(secret) is None
    entry = gov.ledger.tail(1)[0]
    assert (entry.kind, entry.payload["reason"]) == ("token.revoked", "leaked in a log")
    with pytest.raises(Conflict, match="revoked meanwhile"):
        tokens.revoke(token_id, by="user:root")
    with pytest.raises(NotFound, match="tok_nope"):
        tokens.revoke("tok_nope", by="user:root")
    assert [token_id] == [r.id for r in tokens.list() if r.revoked_at is not None]


def test_a_deactivated_actor_s_token_is_refused(gov: Tether) -> None:
    tokens = Tokens(gov)
    _, secret = tokens.create("svc:scoring", "service", by="user:root")
    gov.actors.deactivate("svc:scoring", actor="user:root", reason="retired")
    assert tokens.verify(secret) is None


@pytest.mark.parametrize(
    ("actor", "role", "kwargs", "match"),
    [
        ("svc:scoring", "superuser", {}, "must be one of"),
        ("svc:nobody", "service", {}, "not a registered"),
        ("agent:support", "admin", {}, "agents get role 'agent'"),
        ("user:lea", "agent", {}, "agents get role 'agent'"),
        ("svc:scoring", "service", {"systems": []}, "at least one system"),
        ("svc:scoring", "service", {"expires": timedelta(0)}, "must be positive"),
    ],
)
def test_create_refuses(
    gov: Tether, actor: str, role: str, kwargs: dict[str, object], match: str
) -> None:
    size = gov.ledger.size
    with pytest.raises(InvalidInput, match=match):
        Tokens(gov).create(actor, role, by="user:root", **kwargs)  # type: ignore[arg-type]
    assert size == gov.ledger.size


def _revoke_row(t: Tether, token_id: str) -> None:
    mutation = token_repo.revoke(token_id, t.clock.now().timestamp())
    t.ledger.append("token.revoked", "user:root", {"token": token_id},
                    subject=f"token/{token_id}", mutation=mutation)  # fmt: skip


def _revoke_as_another_process(t: Tether, token_id: str) -> None:
    """What ``tether token revoke`` in another process does: the ledger entry with its
    row change and, on a SQLite file, the revocation signal (this process's own
    revocation count stays as it was)."""
    _revoke_row(t, token_id)
    database = t.store.engine.url.database or ""
    if t.store.dialect == "sqlite" and database not in ("", ":memory:"):
        _Signal(database + "-tokens").touch()


def test_verification_is_served_from_memory_until_a_revocation(gov: Tether) -> None:
    # SQLite: a verified token is kept in memory; PostgreSQL (servers on several
    # machines, no shared signal): its row is read on every request, as breakers are.
    tokens = Tokens(gov)
    token_id, secret = tokens.create("svc:scoring", "service", by="user:root")
    assert tokens.verify(secret) is not None
    with gov.store.write() as conn:  # a change that no revocation signalled
        conn.execute(update(tokens_table).values(role="agent"))
    seen = tokens.verify(secret)
    assert seen is not None
    assert seen.role == ("agent" if gov.store.dialect == "postgresql" else "service")
    Tokens(gov).revoke(token_id, by="user:root")  # a revocation, by any instance
    assert tokens.verify(secret) is None


def test_a_revocation_in_another_process_takes_effect_at_once(gov: Tether) -> None:
    tokens = Tokens(gov)
    token_id, secret = tokens.create("svc:scoring", "service", by="user:root")
    _, other = tokens.create("svc:scoring", "service", by="user:root")
    assert tokens.verify(secret) is not None
    assert tokens.verify(other) is not None
    _revoke_as_another_process(gov, token_id)
    assert tokens.verify(secret) is None
    assert tokens.verify(other) is not None


def test_without_the_signal_the_cache_lasts_at_most_cache_seconds(
    make_tether: Callable[..., Tether],
) -> None:
    t = governed(make_tether(cache_seconds=0))
    tokens = Tokens(t)
    token_id, secret = tokens.create("svc:scoring", "service", by="user:root")
    assert tokens.verify(secret) is not None
    _revoke_row(t, token_id)  # no signal, no revocation counted in this process
    assert tokens.verify(secret) is None


def test_a_deactivation_by_this_process_takes_effect_at_once(gov: Tether) -> None:
    tokens = Tokens(gov)
    _, secret = tokens.create("svc:scoring", "service", by="user:root")
    assert tokens.verify(secret) is not None
    gov.actors.deactivate("svc:scoring", actor="user:root", reason="retired")
    assert tokens.verify(secret) is None


def test_the_signal_is_shared_through_its_file(tmp_path: Path) -> None:
    path = str(tmp_path / "tether.db-tokens")
    reader, writer = _Signal(path), _Signal(path)
    seen = reader.value()
    assert len(seen) == 8
    assert reader.value() == seen  # reading changes nothing
    writer.touch()
    assert reader.value() != seen
    assert _Signal(str(tmp_path / "missing" / "db-tokens")).value() == b""  # no signal: TTL
