"""API tokens: stored as digests only, shown once, expire, revoke, refuse bad input."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import select

from tether import Conflict, InvalidInput, NotFound, Tether
from tether.server import Tokens
from tether.store.tables import tokens as tokens_table
from tether.testing import FrozenClock


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
