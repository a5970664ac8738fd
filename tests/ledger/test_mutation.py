"""Projection rows commit with their ledger entry, or neither does."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from tether import Conflict, InvalidInput, Tether
from tether.ledger import verify_ledger
from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement

INSERT = "INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?, ?, ?)"
CAS = "UPDATE rate_buckets SET tokens = ? WHERE key = ? AND tokens = ?"


def buckets(t: Tether) -> dict[str, float]:
    with t.store.read() as conn:
        rows = conn.execute(text("SELECT key, tokens FROM rate_buckets ORDER BY key"))
        return {str(k): float(v) for k, v in rows}


def test_a_mutation_commits_with_its_entry_and_sees_its_index(tether: Tether) -> None:
    tether.ledger.append("decision", "bot", {"i": 0})
    entry = tether.ledger.append(
        "bucket.created", "bot", {"key": "a"},
        mutation=Mutation((Statement(INSERT, ("a", ENTRY_INDEX, 0.0)),)),
    )  # fmt: skip
    assert entry.index == 1
    assert buckets(tether) == {"a": 1.0}


def test_a_failed_compare_and_set_appends_nothing_and_undoes_its_statements(
    tether: Tether,
) -> None:
    tether.ledger.append(
        "bucket.created", "bot", mutation=Mutation((Statement(INSERT, ("a", 5.0, 0.0)),))
    )
    undone = Mutation(
        (Statement(INSERT, ("b", 1.0, 0.0)), Statement(CAS, (9.0, "a", 4.0), expect_rows=1)),
        conflict="bucket a is not at 4 tokens",
    )
    with pytest.raises(Conflict, match="bucket a is not at 4 tokens"):
        tether.ledger.append("bucket.taken", "bot", mutation=undone)
    assert tether.ledger.size == 1
    assert buckets(tether) == {"a": 5.0}  # b's insert was rolled back with the CAS


def test_a_duplicate_key_is_a_conflict_and_other_requests_in_the_batch_still_commit(
    make_tether: Callable[..., Tether],
) -> None:
    t = make_tether()
    t.ledger.append(
        "bucket.created", "bot", mutation=Mutation((Statement(INSERT, ("a", 1.0, 0.0)),))
    )
    futures = [
        t.ledger.append("decision", "bot", {"i": 1}, durability="async"),
        t.ledger.append(
            "bucket.created", "bot", durability="async",
            mutation=Mutation((Statement(INSERT, ("a", 2.0, 0.0)),), conflict="bucket a exists"),
        ),
        t.ledger.append("decision", "bot", {"i": 2}, durability="async"),
    ]  # fmt: skip
    t.ledger.flush()
    assert [f.result().index for f in (futures[0], futures[2])] == [1, 2]
    with pytest.raises(Conflict, match="bucket a exists"):
        futures[1].result()
    assert buckets(t) == {"a": 1.0}
    assert verify_ledger(t.store, t.ledger.verifier).ok


def test_text_with_a_nul_is_refused_before_it_reaches_a_group_commit(
    make_tether: Callable[..., Tether],
) -> None:
    """PostgreSQL cannot store NUL in text; the refusal comes in the caller's thread, so
    neither this change nor the other entries of its batch are lost or half-written."""
    t = make_tether()
    t.actors.register("user:ops", kind="human", roles=["operator"], actor="admin")
    size = t.ledger.size
    with pytest.raises(InvalidInput, match="contains a NUL character"):
        t.breakers.trip("system:x", actor="user:ops", reason="a\x00b")
    assert t.ledger.size == size
    assert t.breakers.state("system:x").state == "closed"
    t.breakers.trip("system:x", actor="user:ops", reason="a b")
    assert t.breakers.state("system:x").state == "open"
    assert verify_ledger(t.store, t.ledger.verifier).ok
