"""Segmented and parallel verification find the same first bad index as in-process."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from tether import Tether
from tether.ledger import verify_ledger
from tether.ledger._entry import encode_entry, payload_digest
from tether.ledger._merkle import NODE_STRIDE, leaf_hash


def _populate(t: Tether, n: int) -> None:
    for i in range(n):
        t.ledger.append("decision", f"svc:{i % 3}", {"i": i, "verdict": "allow"})


def _sql(t: Tether, statement: str, **params: object) -> None:
    with t.store.engine.begin() as conn:
        conn.execute(text(statement), params)


def _forge(t: Tether, index: int) -> None:
    """Replace entry ``index`` by a forged one with a consistent leaf and payload."""
    body = b'{"forged":true}'
    raw = encode_entry(
        index, "2026-01-01T00:00:00.000000Z", "decision", "mallory", None, payload_digest(body)
    )
    _sql(
        t,
        "UPDATE ledger_entries SET entry = :e, leaf = :l, payload = :p WHERE idx = :i",
        e=raw,
        l=leaf_hash(raw),
        p=body,
        i=index,
    )


TAMPERS: dict[str, tuple[Callable[[Tether], None], int]] = {
    "byte": (
        lambda t: _sql(
            t,
            "UPDATE ledger_entries SET entry = :e WHERE idx = 37",
            e=t.ledger.get(37).raw.replace(b"svc:", b"svC:"),
        ),
        37,
    ),
    "payload": (
        lambda t: _sql(
            t,
            "UPDATE ledger_entries SET payload = :p WHERE idx = 50",
            p=b'{"i":50,"verdict":"deny"}',
        ),
        50,
    ),
    "delete": (lambda t: _sql(t, "DELETE FROM ledger_entries WHERE idx = 21"), 21),
    # A well-formed forged entry that carries a recomputed leaf is only visible through
    # the Merkle node recorded over its 16-entry tile: it is localised to that tile.
    "forged-even": (lambda t: _forge(t, 44), 32),
    "forged-odd": (lambda t: _forge(t, 45), 32),
    # In the last, incomplete tile no node is recorded: the head's frontier part over
    # it (entries 96..99 of 100) is what the forgery contradicts.
    "forged-tail": (lambda t: _forge(t, 97), 96),
    "malformed-tail": (
        lambda t: _sql(
            t,
            "UPDATE ledger_entries SET entry = :e, leaf = :l WHERE idx = 98",
            e=b"{}",
            l=leaf_hash(b"{}"),
        ),
        98,
    ),
}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_first_bad_index_is_exact(
    make_tether: Callable[..., Tether], workers: int, tamper: str
) -> None:
    t = make_tether(checkpoint_every=16)
    _populate(t, 100)
    assert verify_ledger(t.store, t.ledger.verifier, workers=workers, segment_level=3).ok
    change, expected = TAMPERS[tamper]
    change(t)
    report = verify_ledger(t.store, t.ledger.verifier, workers=workers, segment_level=3)
    assert not report.ok
    assert report.first_bad_index == expected, report.summary()


@pytest.mark.parametrize("size", [1, 7, 8, 9, 63, 64, 65, 100])
def test_parallel_and_sequential_agree_on_intact_logs(
    make_tether: Callable[..., Tether], size: int
) -> None:
    t = make_tether(checkpoint_every=5)
    _populate(t, size)
    reports = [
        verify_ledger(t.store, t.ledger.verifier, workers=w, segment_level=lvl)
        for w, lvl in [(1, 15), (1, 2), (2, 2), (2, 3)]
    ]
    assert [r.ok for r in reports] == [True] * 4, [r.summary() for r in reports]
    stored = sum(size >> level for level in range(NODE_STRIDE, 8, NODE_STRIDE))
    assert {(r.entries_checked, r.nodes_checked, r.checkpoints_checked) for r in reports} == {
        (size, stored, size // 5)
    }


def test_tampered_upper_node_is_found(make_tether: Callable[..., Tether]) -> None:
    t = make_tether()
    _populate(t, 64)
    # The level-4 node over entries 16..31 sits above 8-entry segments.
    key = (32 << 6) | 4
    _sql(t, "UPDATE ledger_nodes SET hash = :h WHERE key = :k", h=b"\x00" * 32, k=key)
    report = verify_ledger(t.store, t.ledger.verifier, workers=2, segment_level=3)
    assert report.first_bad_index == 16
    assert "16..31" in report.summary()


def test_progress_is_reported(make_tether: Callable[..., Tether]) -> None:
    t = make_tether()
    _populate(t, 20)
    seen: list[tuple[int, int]] = []
    verify_ledger(
        t.store,
        t.ledger.verifier,
        segment_level=3,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(8, 20), (16, 20), (20, 20)]
