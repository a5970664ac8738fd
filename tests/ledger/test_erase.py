"""Erasing a payload: the entry stays, the log still verifies, the bytes are gone.

Runs on SQLite and, with TETHER_TEST_POSTGRES_URL set, on PostgreSQL, except the
check of the SQLite database file itself.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tether import Settings, Tether
from tether.cli import main
from tether.errors import InvalidInput, NotFound
from tether.ledger import ERASE_KIND, canonical_json, verify_ledger, verify_receipt
from tether.ledger._entry import payload_digest
from tether.testing import FrozenClock

REASON = "GDPR art. 17 request ER-2026-0042"
DPO = "human:dpo.martins"
MARKER = "NID-078-05-1120-7f3a9c0e"  # a national id nobody may keep after the erasure
KEEP = "KEEP-a51c-3be0-unerased"  # in a payload that is not erased


def _payload(i: int) -> Any:
    if i % 5 == 4:
        return None  # a heartbeat: its payload is JSON null, still erasable
    return {
        "applicant": {"name": f"Applicant {i}", "national_id": f"NID-{i:03d}"},
        "amount": {"value_cents": 250_000 + 1_000 * i, "currency": "EUR"},
        "verdict": ("allow", "deny", "review")[i % 3],
    }


def _populate(t: Tether, n: int = 20) -> None:
    for i in range(n):
        kind = "monitor.heartbeat" if i % 5 == 4 else "decision"
        t.ledger.append(kind, "svc:loan-api", _payload(i), subject=f"loan/2026-{i:04d}")


@pytest.fixture
def t(make_tether: Callable[..., Tether]) -> Tether:
    tether = make_tether(checkpoint_every=8)
    _populate(tether)
    return tether


def _column(t: Tether, idx: int) -> tuple[bytes | None, int | None]:
    """The stored ``payload`` and ``erased_by`` of row ``idx``, straight from SQL."""
    with t.store.engine.connect() as conn:
        payload, erased_by = conn.execute(
            text("SELECT payload, erased_by FROM ledger_entries WHERE idx = :i"), {"i": idx}
        ).one()
    return (None if payload is None else bytes(payload)), erased_by


def _tables(t: Tether) -> dict[str, list[tuple[Any, ...]]]:
    """Every ledger row, to show that nothing at all was written."""
    with t.store.engine.connect() as conn:
        return {
            table: [tuple(row) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]
            for table in (
                "ledger_entries",
                "ledger_nodes",
                "ledger_head",
                "ledger_checkpoints",
                "ledger_meta",
            )
        }


def _sql(t: Tether, sql: str, **params: Any) -> None:
    with t.store.engine.begin() as conn:
        conn.execute(text(sql), params)


# -- erasing ------------------------------------------------------------------------------


def test_erase_records_an_entry_and_the_log_still_verifies(t: Tether) -> None:
    before = t.ledger.get(7)
    size = t.ledger.size
    kept = t.ledger.checkpoint()  # a checkpoint taken before the erasure
    receipt = t.ledger.receipt(7)

    erased = t.ledger.erase(7, REASON, DPO)

    # The erasure is an entry of its own ...
    assert (erased.index, erased.kind, erased.actor, erased.subject) == (
        size,
        ERASE_KIND,
        DPO,
        "ledger/7",
    )
    assert erased.payload == {"index": 7, "reason": REASON}
    assert erased.payload_digest == payload_digest(canonical_json(erased.payload))
    assert t.ledger.size == size + 1
    stored = t.ledger.get(size)
    assert (stored.raw, stored.payload, stored.erased_by) == (
        erased.raw,
        {"index": 7, "reason": REASON},
        None,
    )
    # ... the erased entry keeps its bytes and digest but loses its payload ...
    after = t.ledger.get(7)
    assert (after.raw, after.payload_digest) == (before.raw, before.payload_digest)
    assert (after.payload, after.erased_by, after.erased) == (None, size, True)
    assert _column(t, 7) == (None, size)
    # ... and everything that vouched for the log still does.
    report = verify_ledger(t.store, t.ledger.verifier, extra=kept)
    assert (report.ok, report.problems, report.entries_checked) == (True, [], size + 1)
    entry = verify_receipt(receipt, t.ledger.verifier, payload=_payload(7), check_payload=True)
    assert entry.raw == before.raw
    new, _proof = t.ledger.prove_extends(kept)
    assert new.size == size + 1


def test_many_erasures_keep_the_log_verifying(t: Tether) -> None:
    size = t.ledger.size
    targets = [0, 4, 8, size - 1]  # the first, a JSON-null payload, after a checkpoint, the last
    erasures = {i: t.ledger.erase(i, f"retention: 7 years elapsed for {i}", DPO) for i in targets}
    _populate(t, 10)  # the log goes on (and signs more checkpoints)

    assert [erasures[i].index for i in targets] == list(range(size, size + len(targets)))
    assert {i: t.ledger.get(i).erased_by for i in targets} == {
        i: e.index for i, e in erasures.items()
    }
    assert {i: _column(t, i) for i in targets} == {i: (None, e.index) for i, e in erasures.items()}
    not_erased = [e.index for e in t.ledger.iter_entries() if e.erased_by is None]
    assert not_erased == [i for i in range(t.ledger.size) if i not in targets]
    report = verify_ledger(t.store, t.ledger.verifier)
    assert (report.ok, report.entries_checked) == (True, size + len(targets) + 10)


def test_erase_through_the_cli(
    t: Tether, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("TETHER_") and name != "TETHER_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    size = t.ledger.size
    glob = ["--home", str(t.settings.home), "--database-url", t.settings.database_url]
    with pytest.raises(SystemExit) as info:
        main([*glob, "ledger", "erase", "3", "--reason", REASON, "--actor", DPO])
    assert info.value.code == 0
    assert capsys.readouterr() == (f"erased payload of entry 3; recorded as entry {size}\n", "")
    with pytest.raises(SystemExit) as info:
        main([*glob, "ledger", "verify"])
    out, _err = capsys.readouterr()
    assert (info.value.code, out.startswith("ledger intact: ")) == (0, True)
    assert (t.ledger.get(3).erased_by, t.ledger.get(size).actor) == (size, DPO)


# -- refused erasures ---------------------------------------------------------------------


def test_refused_erasures_write_nothing(t: Tether) -> None:
    first = t.ledger.erase(2, REASON, DPO)
    size = t.ledger.size
    tables = _tables(t)
    refused: dict[str, tuple[type[Exception], str, Callable[[], object]]] = {
        "twice": (
            InvalidInput,
            f"payload of entry 2 was already erased by {first.index}",
            lambda: t.ledger.erase(2, "another request", DPO),
        ),
        "an erase entry": (
            InvalidInput,
            f"entry {first.index} records an erasure",
            lambda: t.ledger.erase(first.index, REASON, DPO),
        ),
        "empty reason": (InvalidInput, "needs a reason", lambda: t.ledger.erase(5, "", DPO)),
        "blank reason": (InvalidInput, "needs a reason", lambda: t.ledger.erase(5, " \t\n", DPO)),
        "empty actor": (InvalidInput, "actor", lambda: t.ledger.erase(5, REASON, "")),
        "index = size": (
            NotFound,
            f"ledger entry {size} does not exist",
            lambda: t.ledger.erase(size, REASON, DPO),
        ),
        "far index": (
            NotFound,
            "ledger entry 1000000 does not exist",
            lambda: t.ledger.erase(1_000_000, REASON, DPO),
        ),
        "negative index": (
            NotFound,
            "ledger entry -1 does not exist",
            lambda: t.ledger.erase(-1, REASON, DPO),
        ),
    }
    outcomes = {}
    for name, (_kind, needle, call) in refused.items():
        try:
            call()
        except (InvalidInput, NotFound) as exc:
            outcomes[name] = (type(exc), needle in str(exc))
        else:
            outcomes[name] = (None, False)
    assert outcomes == {name: (kind, True) for name, (kind, _n, _c) in refused.items()}
    assert t.ledger.size == size
    assert _tables(t) == tables
    assert t.ledger.get(5).payload == _payload(5)
    assert verify_ledger(t.store, t.ledger.verifier).ok


def test_racing_erasures_of_one_payload_record_only_one(
    make_tether: Callable[..., Tether], monkeypatch: pytest.MonkeyPatch
) -> None:
    one = make_tether(checkpoint_every=8)
    _populate(one)
    other = make_tether(checkpoint_every=8)  # a second process on the same database
    size = one.ledger.size
    read = one.ledger.get

    def get_then_lose_the_race(index: int) -> Any:
        entry = read(index)  # not erased yet ...
        other.ledger.erase(index, "request A", "human:ana")  # ... but now it is
        return entry

    monkeypatch.setattr(one.ledger, "get", get_then_lose_the_race)
    try:
        one.ledger.erase(6, "request B", "human:bob")
        outcome = "erased again"
    except InvalidInput:
        outcome = "refused"
    monkeypatch.undo()
    erasures = [e.index for e in one.ledger.iter_entries() if e.subject == "ledger/6"]
    assert (outcome, erasures, one.ledger.size) == ("refused", [size], size + 1)


# -- the bytes are really gone ------------------------------------------------------------


@pytest.fixture
def sqlite_tether(tmp_path: Path, clock: FrozenClock) -> Iterator[Tether]:
    """A tether on SQLite only (the database file is inspected)."""
    home = tmp_path / "sqlite-home"
    settings = Settings(
        home=home, database_url=f"sqlite:///{home / 'tether.db'}", checkpoint_every=8
    )
    with Tether.init(settings, clock=clock) as tether:
        yield tether


def _checkpoint_wal(db: Path) -> None:
    """Copy the WAL into the database file and truncate it, as SQLite does by itself."""
    conn = sqlite3.connect(db)
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    assert busy == 0


def _files_holding(home: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in home.glob("tether.db*") if needle in p.read_bytes())


@pytest.mark.parametrize("padding", [0, 20_000], ids=["in-page", "overflow-pages"])
def test_erased_payload_is_gone_from_the_sqlite_files(sqlite_tether: Tether, padding: int) -> None:
    t = sqlite_tether
    home = t.settings.home
    db = home / "tether.db"
    _populate(t, 6)
    secret = t.ledger.append(
        "decision",
        "svc:loan-api",
        {"applicant": {"national_id": MARKER, "notes": "x" * padding}, "verdict": "deny"},
        subject="loan/2026-9999",
    )
    t.ledger.append("decision", "svc:loan-api", {"applicant": {"national_id": KEEP}})
    _populate(t, 3)

    # Positive control: before the erasure the marker is in the database file.
    _checkpoint_wal(db)
    assert _files_holding(home, MARKER.encode()) == ["tether.db"]
    assert _files_holding(home, KEEP.encode()) == ["tether.db"]

    t.ledger.erase(secret.index, REASON, DPO)
    _checkpoint_wal(db)
    assert _files_holding(home, MARKER.encode()) == []
    assert _files_holding(home, KEEP.encode()) == ["tether.db"]  # the check can see bytes
    assert (db.with_name("tether.db-wal").stat().st_size, t.ledger.get(secret.index).payload) == (
        0,
        None,
    )
    assert verify_ledger(t.store, t.ledger.verifier).ok


def test_erased_payload_column_is_null(t: Tether) -> None:
    secret = t.ledger.append("decision", "svc:loan-api", {"applicant": {"national_id": MARKER}})
    assert _column(t, secret.index) == (canonical_json(secret.payload), None)
    erased = t.ledger.erase(secret.index, REASON, DPO)
    assert _column(t, secret.index) == (None, erased.index)
    with t.store.engine.connect() as conn:
        payloads = [
            bytes(p)
            for (p,) in conn.execute(text("SELECT payload FROM ledger_entries"))
            if p is not None
        ]
    assert [p for p in payloads if MARKER.encode() in p] == []


# -- erasures forged in SQL ---------------------------------------------------------------


def test_payload_deleted_in_sql_without_an_erasure_is_caught(t: Tether) -> None:
    _sql(t, "UPDATE ledger_entries SET payload = NULL WHERE idx = 11")
    report = verify_ledger(t.store, t.ledger.verifier)
    assert (report.ok, report.first_bad_index) == (False, 11)


def test_erased_by_pointing_elsewhere_is_caught(t: Tether) -> None:
    real = t.ledger.erase(3, REASON, DPO)  # a genuine erasure of entry 3
    _populate(t, 2)
    size = t.ledger.size
    forged_pointers = {
        "an unrelated entry after it": 15,
        "the erasure of another entry": real.index,
        "an entry before it": 8,
        "itself": 11,
        "no entry at all": size + 5,
    }
    found = {}
    for name, pointer in forged_pointers.items():
        _sql(
            t, "UPDATE ledger_entries SET payload = NULL, erased_by = :p WHERE idx = 11", p=pointer
        )
        found[name] = verify_ledger(t.store, t.ledger.verifier).first_bad_index
    assert found == dict.fromkeys(forged_pointers, 11)


def test_erasure_moved_to_another_entry_in_sql_is_caught(t: Tether) -> None:
    real = t.ledger.erase(3, REASON, DPO)
    # Undo the real erasure's pointer and reuse it for entry 12, whose payload is dropped.
    payload3 = canonical_json(_payload(3))
    _sql(t, "UPDATE ledger_entries SET payload = :p, erased_by = NULL WHERE idx = 3", p=payload3)
    _sql(t, "UPDATE ledger_entries SET payload = NULL, erased_by = :e WHERE idx = 12", e=real.index)
    report = verify_ledger(t.store, t.ledger.verifier)
    assert (report.ok, report.first_bad_index) == (False, 12)


def test_erased_payload_restored_in_sql_is_reported(t: Tether) -> None:
    t.ledger.erase(3, REASON, DPO)
    _sql(t, "UPDATE ledger_entries SET payload = :p WHERE idx = 3", p=canonical_json(_payload(3)))
    report = verify_ledger(t.store, t.ledger.verifier)
    assert (report.ok, report.first_bad_index) == (False, 3)
