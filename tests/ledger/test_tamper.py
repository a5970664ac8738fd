"""Tampering with the ledger's tables in SQL, and with receipts, is caught.

Every test populates a ledger of ``N`` realistic entries (a signed checkpoint every
``EVERY``), then changes the database the way someone with write access to it, but
without the signing key, would: straight SQL through ``t.store.engine``. The
verifier must notice and name the first bad index. Runs on SQLite and, with
TETHER_TEST_POSTGRES_URL set, on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, text

from tether import Settings, Tether
from tether.cli import main
from tether.errors import ProofError, SignatureError, VerificationError
from tether.ledger import (
    Checkpoint,
    Receipt,
    VerifyReport,
    canonical_json,
    load_verifier,
    verify_ledger,
    verify_receipt,
)
from tether.ledger._entry import encode_entry, payload_digest
from tether.ledger._ledger import initialise
from tether.ledger._merkle import NODE_STRIDE, CompactRange, leaf_hash, node_key
from tether.ledger._note import generate_key, load_signer
from tether.store import open_store
from tether.testing import FrozenClock

N = 70  # entries in the populated ledger
EVERY = 16  # checkpoint_every: stored checkpoints at 16, 32, 48 and 64
STORED_CHECKPOINTS = [16, 32, 48, 64]
# complete subtrees the store keeps: levels that are multiples of NODE_STRIDE
NODES = sum(N >> level for level in range(NODE_STRIDE, N.bit_length(), NODE_STRIDE))
K = 37  # the usual victim: odd, inside the checkpoint interval 32..47
_LEAF_DIFFERS = "entry bytes changed after they were appended (leaf hash differs)"
_PAYLOAD_CHANGED = "payload changed after it was appended (digest differs)"

_APPLICANTS = ("Ana Silva", "Zoë Müller", "Kwame Mensah", "Łucja Nowak", "李华")


def _record(i: int) -> tuple[str, str, str | None, Any]:
    """The i-th of a deterministic mix of realistic appends: kind, actor, subject, payload."""
    case = f"loan/2026-{4100 + i:06d}"
    match i % 6:
        case 0 | 1 | 2:
            return (
                "decision",
                "svc:loan-api",
                case,
                {
                    "applicant": _APPLICANTS[i % len(_APPLICANTS)],
                    "amount": {"value_cents": 500_000 + 12_345 * i, "currency": "EUR"},
                    "verdict": ("allow", "deny", "review")[i % 3],
                    "model": {"name": "credit-risk", "version": "4.2.1"},
                    "score": round(0.25 + (i % 50) / 100, 2),
                    "reasons": ["income_ratio_ok", "no_defaults_24m"][: 1 + i % 2],
                },
            )
        case 3:
            return (
                "approval.granted",
                "human:ana.silva",
                case,
                {"ticket": f"APR-{9000 + i}", "comment": "Payslips checked (3 months) ✔"},
            )
        case 4:
            return (
                "policy.published",
                "human:compliance",
                "policy/lending/max-exposure",
                {"version": 1 + i // 6, "rules": [{"if": "amount > 250000", "then": "review"}]},
            )
        case _:
            return ("monitor.heartbeat", "svc:fraud-monitor", None, None)


# -- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads TETHER_* settings from the environment: keep only the test URL."""
    for name in list(os.environ):
        if name.startswith("TETHER_") and name != "TETHER_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


_TABLES = ("ledger_meta", "ledger_head", "ledger_entries", "ledger_nodes", "ledger_checkpoints")


@dataclasses.dataclass(frozen=True)
class Template:
    """A ledger populated once through the API, to copy into each test's database."""

    key_pem: bytes
    tables: dict[str, list[dict[str, Any]]]


def _populate(tether: Tether) -> None:
    for i in range(N):
        kind, actor, subject, payload = _record(i)
        tether.ledger.append(kind, actor, payload, subject=subject)


def _dump(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [
            {k: bytes(v) if isinstance(v, memoryview) else v for k, v in row._mapping.items()}
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))
        ]
        for table in _TABLES
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """Populate N entries through the API once (on SQLite, with a frozen clock)."""
    home = tmp_path_factory.mktemp("template")
    settings = Settings(
        home=home, database_url=f"sqlite:///{home / 'tether.db'}", checkpoint_every=EVERY
    )
    with Tether.init(settings, clock=FrozenClock()) as tether:
        _populate(tether)
        with tether.store.engine.connect() as conn:
            tables = _dump(conn)
        return Template(tether.settings.signing_key_path.read_bytes(), tables)


def _load(settings: Settings, template: Template) -> None:
    """Write the template's key into the home and its rows into the (new) database."""
    key = settings.signing_key_path
    key.parent.mkdir(parents=True)
    key.write_bytes(template.key_pem)
    key.chmod(0o600)
    store = open_store(settings.database_url)
    try:
        with store.engine.begin() as conn:
            for table, rows in template.tables.items():
                columns = list(rows[0])
                conn.execute(
                    text(
                        f"INSERT INTO {table} ({', '.join(columns)}) "
                        f"VALUES ({', '.join(':' + c for c in columns)})"
                    ),
                    rows,
                )
    finally:
        store.close()


@pytest.fixture
def t(make_tether: Callable[..., Tether], settings: Settings, template: Template) -> Tether:
    """A ledger of N entries with stored checkpoints at 16, 32, 48 and 64.

    Appending N entries through the API costs half a second per test (one fsync per
    append), so each test gets a copy of the template's rows and key instead;
    ``test_template_is_what_the_api_writes`` checks the copy on each dialect.
    """
    _load(settings, template)
    return make_tether(checkpoint_every=EVERY)


def _verify(t: Tether, extra: Checkpoint | None = None) -> VerifyReport:
    return verify_ledger(t.store, t.ledger.verifier, extra=extra)


@dataclasses.dataclass(frozen=True)
class Row:
    idx: int
    entry: bytes
    leaf: bytes
    payload: bytes | None
    erased_by: int | None

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _rows(conn: Connection, where: str = "", **params: Any) -> list[Row]:
    sql = "SELECT idx, entry, leaf, payload, erased_by FROM ledger_entries"
    result = conn.execute(text(f"{sql} {where} ORDER BY idx"), params)
    return [
        Row(int(i), bytes(e), bytes(lf), None if p is None else bytes(p), eb)
        for i, e, lf, p, eb in result
    ]


def _row(t: Tether, idx: int) -> Row:
    with t.store.engine.connect() as conn:
        (row,) = _rows(conn, "WHERE idx = :idx", idx=idx)
    return row


def _sql(t: Tether, sql: str, params: dict[str, Any] | list[dict[str, Any]] | None = None) -> None:
    with t.store.engine.begin() as conn:
        conn.execute(text(sql), params or {})


_INSERT = (
    "INSERT INTO ledger_entries (idx, entry, leaf, payload, erased_by) "
    "VALUES (:idx, :entry, :leaf, :payload, :erased_by)"
)
_REPLACE = (
    "UPDATE ledger_entries SET entry = :entry, leaf = :leaf, payload = :payload, "
    "erased_by = :erased_by WHERE idx = :idx"
)


def _put(t: Tether, row: Row) -> None:
    """Overwrite (or restore) row ``row.idx`` with exactly these columns."""
    _sql(t, _REPLACE, row.params())


def _flip(data: bytes, pos: int, bit: int = 0) -> bytes:
    return data[:pos] + bytes([data[pos] ^ (1 << bit)]) + data[pos + 1 :]


def _reseal(conn: Connection) -> None:
    """Do all an attacker with the database but not the key can: recompute every
    cached leaf, every Merkle node and the head from the entry rows as they now are."""
    tree = CompactRange()
    nodes: list[dict[str, Any]] = []
    for row in _rows(conn):
        leaf = leaf_hash(row.entry)
        if leaf != row.leaf:
            conn.execute(
                text("UPDATE ledger_entries SET leaf = :leaf WHERE idx = :idx"),
                {"leaf": leaf, "idx": row.idx},
            )
        nodes += [
            {"key": node_key(lv, i), "hash": h}
            for lv, i, h in tree.append(leaf)
            if not lv % NODE_STRIDE
        ]
    conn.execute(text("DELETE FROM ledger_nodes"))
    if nodes:
        conn.execute(text("INSERT INTO ledger_nodes (key, hash) VALUES (:key, :hash)"), nodes)
    conn.execute(
        text("UPDATE ledger_head SET size = :size, frontier = :frontier, root = :root"),
        {"size": tree.size, "frontier": tree.to_bytes(), "root": tree.root()},
    )


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``tether ARGS``; return the exit code, stdout and stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def _global(settings: Settings) -> list[str]:
    return ["--home", str(settings.home), "--database-url", settings.database_url]


def _one_error_line(code: int, out: str, err: str) -> str:
    """Assert the CLI failed with exactly one ``error:`` line and nothing on stdout."""
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


# -- the untampered ledger --------------------------------------------------------------


def test_template_is_what_the_api_writes(
    make_tether: Callable[..., Tether], template: Template
) -> None:
    tether = make_tether(checkpoint_every=EVERY)
    _populate(tether)
    with tether.store.engine.connect() as conn:
        written = _dump(conn)
    for table in ("ledger_entries", "ledger_nodes"):
        assert written[table] == template.tables[table]
    # The key differs, so only the checkpoints' sizes and roots (and the head) match.
    cps = [(r["size"], r["root"]) for r in written["ledger_checkpoints"]]
    assert cps == [(r["size"], r["root"]) for r in template.tables["ledger_checkpoints"]]
    assert written["ledger_head"] == template.tables["ledger_head"]


def test_populated_ledger_has_the_expected_shape(t: Tether) -> None:
    assert t.ledger.size == N
    assert [cp.size for cp in t.ledger.checkpoints()] == STORED_CHECKPOINTS
    with t.store.engine.connect() as conn:
        assert [r.idx for r in _rows(conn)] == list(range(N))
        assert conn.execute(text("SELECT count(*) FROM ledger_nodes")).scalar_one() == NODES


def test_untampered_ledger_verifies(t: Tether) -> None:
    report = _verify(t)
    assert (report.ok, report.problems, report.first_bad_index) == (True, [], None)
    assert (report.size, report.entries_checked, report.nodes_checked) == (N, N, NODES)
    assert report.checkpoints_checked == len(STORED_CHECKPOINTS)
    assert report.summary() == (
        f"ledger intact: {N} entries, {NODES} Merkle nodes and 4 signed checkpoints verified"
    )
    kept = t.ledger.checkpoint()  # signs and stores a fifth checkpoint, at N
    assert kept.size == N
    assert _verify(t, extra=kept).problems == []
    assert _verify(t, extra=t.ledger.checkpoints()[0]).problems == []


def test_cli_verify_of_an_untampered_ledger_exits_0(
    t: Tether, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(t.ledger.checkpoints()[1].note, encoding="utf-8")
    summary = f"ledger intact: {N} entries, {NODES} Merkle nodes and 4 signed checkpoints verified"
    assert _cli(capsys, *_global(t.settings), "ledger", "verify") == (0, summary + "\n", "")
    assert _cli(capsys, *_global(t.settings), "ledger", "verify", "--checkpoint", str(kept)) == (
        0,
        summary + "\n",
        "",
    )


# -- entries changed in place -------------------------------------------------------------
#
# The contract is the first bad index; the wording of each problem is the verifier's
# business (it is asserted only where it must name something, such as a checkpoint).


def _first_bad(t: Tether) -> int | None:
    report = _verify(t)
    assert not report.ok
    return report.first_bad_index


@contextlib.contextmanager
def _restored(t: Tether) -> Iterator[None]:
    """Put every entry row back as it was after the block (to try many tamperings)."""
    with t.store.engine.connect() as conn:
        rows = _rows(conn)
    yield
    with t.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_entries"))
        conn.execute(text(_INSERT), [r.params() for r in rows])


def test_changed_entry_bytes_are_caught_at_their_index(t: Tether) -> None:
    changes = {
        "actor": (b'"actor":"svc:loan-api"', b'"actor":"svc:loan-apj"'),
        "timestamp": (b"2026-01-01T00:00:00", b"2026-01-01T00:00:01"),
        "kind": (b'"kind":"decision"', b'"kind":"decisiom"'),
        "subject": (b'"subject":"loan/', b'"subject":"loan\\/'),  # same JSON, other bytes
        "version": (b'"v":1', b'"v":2'),
        "digest": (b'"payload_digest":"sha256:', b'"payload_digest":"sha257:'),
        "index": (b'"index":37', b'"index":36'),
        "not-json": (b'{"actor"', b'["actor"'),
    }
    row = _row(t, K)
    found = {}
    for name, (old, new) in changes.items():
        assert row.entry.count(old) == 1, name
        with _restored(t):
            _put(t, dataclasses.replace(row, entry=row.entry.replace(old, new)))
            found[name] = _first_bad(t)
    assert found == dict.fromkeys(changes, K)
    assert _verify(t).ok


def test_a_flipped_bit_in_any_byte_of_an_entry_is_caught_at_its_index(t: Tether) -> None:
    row = _row(t, K)
    caught: dict[int, int | None] = {}
    for pos in range(len(row.entry)):
        _put(t, dataclasses.replace(row, entry=_flip(row.entry, pos)))
        caught[pos] = _verify(t).first_bad_index
    assert caught == dict.fromkeys(range(len(row.entry)), K)
    _put(t, row)
    assert _verify(t).ok


def test_changed_entry_is_caught_wherever_it_is(t: Tether) -> None:
    indices = [0, 1, EVERY - 1, EVERY, 32, 63, 64, N - 2, N - 1]
    found = {}
    for index in indices:
        row = _row(t, index)
        with _restored(t):
            _put(t, dataclasses.replace(row, entry=row.entry.replace(b'"v":1', b'"v":2')))
            found[index] = _first_bad(t)
    assert found == {index: index for index in indices}


def test_cli_verify_names_the_first_bad_index(
    t: Tether, capsys: pytest.CaptureFixture[str]
) -> None:
    row = _row(t, K)
    _put(t, dataclasses.replace(row, entry=row.entry.replace(b"svc:loan-api", b"svc:loan-apj")))
    report = _verify(t)
    code, out, _err = _cli(capsys, *_global(t.settings), "ledger", "verify")
    assert (code, out) == (1, report.summary() + "\n")
    assert out.startswith(f"ledger NOT intact: first bad index {K}: ")


def test_a_changed_entry_is_not_also_reported_as_a_truncation(t: Tether) -> None:
    row = _row(t, K)
    _put(t, dataclasses.replace(row, entry=row.entry.replace(b'"v":1', b'"v":2')))
    report = _verify(t)
    assert report.first_bad_index == K
    assert [p.message for p in report.problems if "truncated" in p.message] == []


def _tile_start(index: int, size: int) -> int:
    """First entry of the smallest recorded subtree over ``index`` in a log of ``size``:
    a stored node's tile, or else the head's frontier part that holds it."""
    tile = 1 << NODE_STRIDE
    if index < size - size % tile:
        return index - index % tile
    start = size - size % tile
    for level in range(NODE_STRIDE - 1, -1, -1):
        if size >> level & 1:
            if index < start + (1 << level):
                return start
            start += 1 << level
    raise AssertionError(index)


def test_entry_and_its_cached_leaf_rewritten_is_caught(t: Tether) -> None:
    # With the cached leaf rewritten too, a malformed entry is still named exactly...
    indices = [0, 1, 36, K, 64, N - 2, N - 1]
    found = {}
    for index in indices:
        row = _row(t, index)
        forged = row.entry.replace(b'"v":1', b'"v":2')
        with _restored(t):
            _put(t, dataclasses.replace(row, entry=forged, leaf=leaf_hash(forged)))
            found[index] = _first_bad(t)
    assert found == {index: index for index in indices}


def test_well_formed_forgery_with_its_leaf_is_caught_at_its_subtree(t: Tether) -> None:
    # ...while a well-formed forgery is only visible through the Merkle node recorded
    # over it (or the head's frontier): the subtree's first entry is named
    # (docs/ledger.md: "the first entry of its 16-entry tile").
    indices = [0, 1, 36, K, 64, N - 2, N - 1]
    found = {}
    for index in indices:
        row = _row(t, index)
        forged = row.entry.replace(b'"actor":"', b'"actor":"x', 1)
        assert forged != row.entry
        with _restored(t):
            _put(t, dataclasses.replace(row, entry=forged, leaf=leaf_hash(forged)))
            found[index] = _first_bad(t)
    assert found == {index: _tile_start(index, N) for index in indices}


def test_rewritten_last_entry_of_an_odd_sized_log_names_an_existing_index(t: Tether) -> None:
    t.ledger.append("decision", "svc:loan-api", {"verdict": "allow"})  # size N + 1 (odd)
    last = _row(t, N)
    forged = last.entry.replace(b'"v":1', b'"v":2')
    _put(t, dataclasses.replace(last, entry=forged, leaf=leaf_hash(forged)))
    report = _verify(t)
    assert not report.ok
    assert report.first_bad_index is not None
    assert report.first_bad_index <= N


# -- payloads changed behind their digest ---------------------------------------------------


def test_changed_payload_is_caught_at_its_index(t: Tether) -> None:
    row = _row(t, K)
    assert row.payload is not None
    assert b'"verdict":"deny"' in row.payload
    _put(t, dataclasses.replace(row, payload=row.payload.replace(b'"deny"', b'"allow"')))
    report = _verify(t)
    assert (report.ok, report.first_bad_index) == (False, K)
    assert report.summary().startswith(f"ledger NOT intact: first bad index {K}: ")
    assert "payload" in report.summary()


def test_any_payload_rewrite_is_caught_at_its_index(t: Tether) -> None:
    rewrites: dict[str, Callable[[bytes], bytes]] = {
        "value-added": lambda p: canonical_json({**orjson.loads(p), "by": "human:mallory"}),
        "same-json-not-canonical": lambda p: p.replace(b",", b", "),
        "replaced-by-null": lambda p: b"null",
        "trailing-space": lambda p: p + b" ",
        "emptied": lambda p: b"",
    }
    indices = [0, K, N - 1]
    found = {}
    for index in indices:
        row = _row(t, index)
        assert row.payload is not None
        for name, rewrite in rewrites.items():
            new = rewrite(row.payload)
            assert new != row.payload
            with _restored(t):
                _put(t, dataclasses.replace(row, payload=new))
                found[index, name] = _first_bad(t)
    assert found == {(index, name): index for index in indices for name in rewrites}


# -- rows deleted, inserted, swapped --------------------------------------------------------


def test_deleted_entry_is_caught_at_its_index(t: Tether) -> None:
    deleted = [0, EVERY, K, N - 1]
    found = {}
    for k in deleted:
        with _restored(t):
            _sql(t, "DELETE FROM ledger_entries WHERE idx = :k", {"k": k})
            found[k] = _first_bad(t)
    assert found == {k: k for k in deleted}


def _insert_at(t: Tether, position: int, row: Row) -> None:
    """Shift rows ``>= position`` up by one (highest first: no key clash), insert ``row``."""
    with t.store.engine.begin() as conn:
        for idx in range(N - 1, position - 1, -1):
            conn.execute(
                text("UPDATE ledger_entries SET idx = :new WHERE idx = :old"),
                {"new": idx + 1, "old": idx},
            )
        conn.execute(text(_INSERT), dataclasses.replace(row, idx=position).params())


def _replay(t: Tether, cases: dict[int, int]) -> dict[int, int | None]:
    found = {}
    for position, replayed in cases.items():
        with _restored(t):
            _insert_at(t, position, _row(t, replayed))
            assert t.ledger.size == N  # the head was left alone: rows now exceed it
            found[position] = _first_bad(t)
    return found


def test_replayed_entry_inserted_in_the_middle_is_caught_at_the_insertion(t: Tether) -> None:
    cases = {0: 12, EVERY: EVERY - 1, 30: 5, 64: 20}  # position: replayed entry
    assert _replay(t, cases) == {position: position for position in cases}


def test_replayed_entry_inserted_at_an_odd_position_is_caught_there(t: Tether) -> None:
    cases = {K: 60, 1: 0, N - 1: 3}
    assert _replay(t, cases) == {position: position for position in cases}


def _forged_row(idx: int) -> Row:
    payload = canonical_json({"verdict": "allow", "amount": {"value_cents": 99_900_000}})
    raw = encode_entry(
        idx,
        "2026-01-01T00:00:00.000000Z",
        "decision",
        "svc:loan-api",
        "loan/2026-999999",
        payload_digest(payload),
    )
    return Row(idx, raw, leaf_hash(raw), payload, None)


def test_forged_row_after_the_head_is_caught_at_size(t: Tether) -> None:
    _sql(t, _INSERT, _forged_row(N).params())
    assert _first_bad(t) == N


def test_forged_row_after_the_head_of_an_odd_sized_log_is_caught_at_size(t: Tether) -> None:
    t.ledger.append("decision", "svc:loan-api", {"verdict": "allow"})  # size N + 1 (odd)
    _sql(t, _INSERT, _forged_row(N + 1).params())
    assert _first_bad(t) == N + 1


def _swap(t: Tether, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], int | None]:
    found = {}
    for i, j in pairs:
        a, b = _row(t, i), _row(t, j)
        with _restored(t):
            _put(t, dataclasses.replace(b, idx=i))
            _put(t, dataclasses.replace(a, idx=j))
            found[i, j] = _first_bad(t)
    return found


def test_swapped_entries_are_caught_at_the_first(t: Tether) -> None:
    pairs = [(0, N - 1), (36, K), (EVERY, 40), (2, 3)]
    assert _swap(t, pairs) == {(i, j): i for i, j in pairs}


def test_swapped_entries_at_an_odd_index_are_caught_at_the_first(t: Tether) -> None:
    pairs = [(3, 40), (EVERY - 1, EVERY), (K, N - 1)]
    assert _swap(t, pairs) == {(i, j): i for i, j in pairs}


# -- truncation -----------------------------------------------------------------------------


def _checkpoints_named(report: VerifyReport) -> list[int]:
    """The sizes of the stored (or given) checkpoints the report's problems name."""
    return [
        s
        for s in sorted({*STORED_CHECKPOINTS, N})
        if any(re.search(rf"\bcheckpoint {s}\b", p.message) for p in report.problems)
    ]


def test_truncated_tail_is_caught_at_the_cut(t: Tether) -> None:
    cuts = [0, 1, 40, 48, 64, N - 1]
    found = {}
    for k in cuts:
        with _restored(t):
            _sql(t, "DELETE FROM ledger_entries WHERE idx >= :k", {"k": k})
            found[k] = _first_bad(t)
    assert found == {k: k for k in cuts}


def test_truncation_with_a_rewritten_head_is_caught_by_checkpoints(
    t: Tether, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    kept = t.ledger.checkpoint()  # what the user kept (also stored, at size N)
    kept_file = tmp_path / "kept.checkpoint"
    kept_file.write_text(kept.note, encoding="utf-8")
    k = 40
    with t.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_entries WHERE idx >= :k"), {"k": k})
        _reseal(conn)
    assert t.ledger.size == k

    # The stored checkpoints that covered the deleted entries give it away.
    report = _verify(t)
    assert report.first_bad_index == k
    assert _checkpoints_named(report) == [48, 64, N]

    # Deleting those checkpoints too leaves nothing in the database to show it ...
    _sql(t, "DELETE FROM ledger_checkpoints WHERE size > :k", {"k": k})
    assert _verify(t).problems == []

    # ... but the checkpoint the user kept still does.
    report = _verify(t, extra=Checkpoint.open(kept.note, t.ledger.verifier))
    assert (report.ok, report.first_bad_index) == (False, k)
    assert "truncated" in report.summary()
    code, out, _err = _cli(
        capsys, *_global(t.settings), "ledger", "verify", "--checkpoint", str(kept_file)
    )
    assert (code, out) == (1, report.summary() + "\n")
    assert out.startswith(f"ledger NOT intact: first bad index {k}: ")
    line = _one_error_line(
        *_cli(capsys, *_global(t.settings), "ledger", "consistency", str(kept_file))
    )
    assert "truncated" in line


def test_consistent_rewrite_without_the_key_is_caught_by_checkpoints(
    t: Tether, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    kept = t.ledger.checkpoint()
    kept_file = tmp_path / "kept.checkpoint"
    kept_file.write_text(kept.note, encoding="utf-8")
    row = _row(t, K)
    assert row.payload is not None
    payload = row.payload.replace(b'"deny"', b'"allow"')
    assert payload != row.payload
    entry = row.entry.replace(
        payload_digest(row.payload).encode(), payload_digest(payload).encode()
    )
    with t.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE ledger_entries SET entry = :e, payload = :p WHERE idx = :i"),
            {"e": entry, "p": payload, "i": K},
        )
        _reseal(conn)

    report = _verify(t)
    assert report.first_bad_index == 32  # the last stored checkpoint that still matches
    assert _checkpoints_named(report) == [48]

    # Without the later checkpoints only the one the user kept can tell.
    _sql(t, "DELETE FROM ledger_checkpoints WHERE size > 32")
    assert _verify(t).problems == []
    report = _verify(t, extra=kept)
    assert (report.ok, report.first_bad_index) == (False, 32)
    code, out, _err = _cli(
        capsys, *_global(t.settings), "ledger", "verify", "--checkpoint", str(kept_file)
    )
    assert (code, out) == (1, report.summary() + "\n")
    assert out.startswith("ledger NOT intact: first bad index 32: ")


# -- a whole forged log under a new key -----------------------------------------------------


def _forged_tether(settings: Settings, origin: str, clock: FrozenClock) -> Tether:
    """Initialise ``settings`` as a log named ``origin`` signed by a brand-new key."""
    generate_key(settings.signing_key_path)
    signer = load_signer(settings.signing_key_path, origin)
    store = open_store(settings.database_url)
    try:
        assert initialise(store, signer.verifier, clock)
    finally:
        store.close()
    settings.public_key_path.write_text(signer.verifier.vkey + "\n", encoding="utf-8")
    return Tether.open(settings, clock=clock)


@pytest.fixture
def forged_home(t: Tether, tmp_path: Path) -> Iterator[tuple[Tether, Path, Path]]:
    """Replace the ledger by a consistent forgery under a new key, with entry K altered.

    The attacker wipes the tables (the same database, so this runs on both dialects),
    creates a new home with a new key under the same log name, and appends the same
    entries, except that entry K's verdict is changed. Yields the forged tether, the
    checkpoint file the user kept and the public key file the user kept.
    """
    kept_file = tmp_path / "kept.checkpoint"
    kept_file.write_text(t.ledger.checkpoint().note, encoding="utf-8")
    kept_key = tmp_path / "kept.pub"
    kept_key.write_text(t.ledger.verifier.vkey + "\n", encoding="utf-8")
    records = [(e.kind, e.actor, e.subject, e.payload) for e in t.ledger.iter_entries()]
    assert records[K][3]["verdict"] == "deny"
    records[K][3]["verdict"] = "allow"
    with t.store.engine.begin() as conn:
        for table in (
            "ledger_entries",
            "ledger_nodes",
            "ledger_checkpoints",
            "ledger_head",
            "ledger_meta",
        ):
            conn.execute(text(f"DELETE FROM {table}"))

    settings = t.settings.model_copy(update={"home": tmp_path / "forged-home"})
    assert isinstance(t.clock, FrozenClock)
    forged = _forged_tether(settings, t.ledger.origin, t.clock)
    try:
        for kind, actor, subject, payload in records:
            forged.ledger.append(kind, actor, payload, subject=subject)
        yield forged, kept_file, kept_key
    finally:
        forged.close()


def test_forged_log_under_a_new_key_fails_against_the_kept_checkpoint(
    t: Tether,
    forged_home: tuple[Tether, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    forged, kept_file, _kept_key = forged_home
    old_note = kept_file.read_text(encoding="utf-8")
    # The forgery is self-consistent and differs from the original in entry K only.
    assert _verify(forged).problems == []
    assert forged.ledger.origin == t.ledger.origin
    assert forged.ledger.verifier.vkey != t.ledger.verifier.vkey
    assert Checkpoint.open(old_note, t.ledger.verifier).root != forged.ledger.root()

    with pytest.raises(SignatureError, match=r"^note is not signed by key "):
        Checkpoint.open(old_note, forged.ledger.verifier)

    line = _one_error_line(
        *_cli(capsys, *_global(forged.settings), "ledger", "verify", "--checkpoint", str(kept_file))
    )
    assert line == (
        f"error: note is not signed by key {forged.ledger.origin} "
        f"({forged.ledger.verifier.key_id.hex()})"
    )
    # The original home's key no longer matches the replaced database either.
    line = _one_error_line(*_cli(capsys, *_global(t.settings), "ledger", "verify"))
    assert "is not the key this ledger was created with" in line


def test_forged_receipts_fail_against_the_kept_public_key(
    forged_home: tuple[Tether, Path, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    forged, _kept_file, kept_key = forged_home
    receipt = forged.ledger.receipt(K)
    assert verify_receipt(receipt, forged.ledger.verifier).index == K  # valid for the forger
    with pytest.raises(SignatureError, match=r"^note is not signed by key "):
        verify_receipt(receipt, load_verifier(kept_key))
    receipt_file = tmp_path / "forged.receipt"
    receipt_file.write_text(receipt.to_json(), encoding="utf-8")
    line = _one_error_line(
        *_cli(capsys, "ledger", "verify-receipt", str(receipt_file), "--public-key", str(kept_key))
    )
    assert line.startswith("error: note is not signed by key ")


# -- stored checkpoints -------------------------------------------------------------------


def _alter_signature(note: str, byte: int) -> str:
    body, sig_line = note.rstrip("\n").rsplit("\n", 1)
    prefix, b64 = sig_line.rsplit(" ", 1)
    blob = base64.b64decode(b64)
    return f"{body}\n{prefix} {base64.b64encode(_flip(blob, byte)).decode()}\n"


def _alter_root(note: str, byte: int) -> str:
    origin, size, root_b64, rest = note.split("\n", 3)
    root = base64.b64encode(_flip(base64.b64decode(root_b64), byte)).decode()
    return f"{origin}\n{size}\n{root}\n{rest}"


_NOT_VERIFIED = (
    "signature by {origin} does not verify: the note was altered or signed by another key"
)
_NOT_SIGNED = "note is not signed by key {origin} ({key_id})"


def _note_of(t: Tether, size: int) -> str:
    with t.store.engine.connect() as conn:
        note = conn.execute(
            text("SELECT note FROM ledger_checkpoints WHERE size = :s"), {"s": size}
        ).scalar_one()
    return str(note)


def test_stored_checkpoint_with_a_bad_signature_is_reported(
    t: Tether, capsys: pytest.CaptureFixture[str]
) -> None:
    alterations: dict[str, tuple[Callable[[str], str], str]] = {
        "signature": (lambda n: _alter_signature(n, 10), _NOT_VERIFIED),
        "signature-last-byte": (lambda n: _alter_signature(n, 67), _NOT_VERIFIED),
        "key-id": (lambda n: _alter_signature(n, 0), _NOT_SIGNED),
        "root": (lambda n: _alter_root(n, 0), _NOT_VERIFIED),
        "size": (lambda n: n.replace("\n32\n", "\n33\n", 1), _NOT_VERIFIED),
        "origin": (lambda n: n.replace("\n", "x\n", 1), _NOT_VERIFIED),
    }
    note = _note_of(t, 32)
    found = {}
    for name, (alter, _message) in alterations.items():
        assert alter(note) != note
        _sql(t, "UPDATE ledger_checkpoints SET note = :n WHERE size = 32", {"n": alter(note)})
        report = _verify(t)
        assert (report.ok, report.first_bad_index, report.checkpoints_checked) == (False, None, 3)
        found[name] = [(p.index, p.message) for p in report.problems]
    names = {"origin": t.ledger.origin, "key_id": t.ledger.verifier.key_id.hex()}
    for name, (_alter, message) in alterations.items():
        # One problem, about no entry, naming the checkpoint and why it was refused.
        [(index, text_)] = found[name]
        assert (index, "32" in text_, text_.endswith(message.format(**names))) == (
            None,
            True,
            True,
        ), (name, text_)

    code, out, _err = _cli(capsys, *_global(t.settings), "ledger", "verify")
    assert (code, out) == (1, f"ledger NOT intact: {found['origin'][0][1]}\n")
    _sql(t, "UPDATE ledger_checkpoints SET note = :n WHERE size = 32", {"n": note})
    assert _verify(t).ok


def _about_checkpoint_48(report: VerifyReport) -> bool:
    return [(p.index, "48" in p.message) for p in report.problems] == [(None, True)]


def test_stored_checkpoint_row_that_disagrees_with_its_note_is_reported(t: Tether) -> None:
    _sql(t, "UPDATE ledger_checkpoints SET root = :r WHERE size = 48", {"r": b"\x00" * 32})
    report = _verify(t)
    assert _about_checkpoint_48(report), report.problems


def test_stored_checkpoint_moved_to_another_size_is_reported(t: Tether) -> None:
    _sql(t, "UPDATE ledger_checkpoints SET note = :n WHERE size = 48", {"n": _note_of(t, 16)})
    report = _verify(t)
    assert _about_checkpoint_48(report), report.problems


# -- receipts -----------------------------------------------------------------------------


def _outcome(receipt: Receipt, t: Tether) -> type[Exception] | None:
    try:
        verify_receipt(receipt, t.ledger.verifier)
    except VerificationError as exc:
        return type(exc)
    return None


@pytest.fixture
def receipt(t: Tether) -> Receipt:
    r = t.ledger.receipt(K)
    assert (r.leaf_index, r.tree_size, len(r.inclusion_proof)) == (K, 64, 6)
    assert verify_receipt(r, t.ledger.verifier).index == K
    return r


def _note_with(receipt: Receipt, note: str) -> Receipt:
    return dataclasses.replace(receipt, checkpoint=note)


def test_receipt_proof_hash_bit_flips_raise_proof_error(t: Tether, receipt: Receipt) -> None:
    outcomes = {}
    for i, h in enumerate(receipt.inclusion_proof):
        for pos in (0, 17, 31):
            for bit in (0, 7):
                proof = list(receipt.inclusion_proof)
                proof[i] = _flip(h, pos, bit)
                outcomes[i, pos, bit] = _outcome(
                    dataclasses.replace(receipt, inclusion_proof=tuple(proof)), t
                )
    assert outcomes == dict.fromkeys(outcomes, ProofError)


def test_receipt_entry_bit_flips_raise_verification_errors(t: Tether, receipt: Receipt) -> None:
    outcomes = {}
    for pos in range(len(receipt.entry)):
        for bit in (0, 1):
            outcomes[pos, bit] = _outcome(
                dataclasses.replace(receipt, entry=_flip(receipt.entry, pos, bit)), t
            )
    assert {k: v for k, v in outcomes.items() if v is None} == {}
    assert set(outcomes.values()) <= {ProofError, VerificationError}
    # Fields the receipt repeats are checked against it; any other change breaks the proof.
    at = receipt.entry.index
    assert outcomes[at(b'"index":37') + len('"index":3'), 0] is VerificationError
    assert outcomes[at(b"sha256:") + 10, 0] is VerificationError
    assert outcomes[at(b"svc:loan-api"), 0] is ProofError
    assert outcomes[at(b"2026-"), 0] is ProofError


def test_receipt_checkpoint_bit_flips_raise_signature_error(t: Tether, receipt: Receipt) -> None:
    outcomes = {}
    for byte in range(32):
        outcomes["root", byte] = _outcome(
            _note_with(receipt, _alter_root(receipt.checkpoint, byte)), t
        )
    for byte in range(68):  # 4 bytes of key id, 64 of signature
        outcomes["signature", byte] = _outcome(
            _note_with(receipt, _alter_signature(receipt.checkpoint, byte)), t
        )
    size_changed = receipt.checkpoint.replace("\n64\n", "\n65\n", 1)
    outcomes["size-line", 0] = _outcome(_note_with(receipt, size_changed), t)
    assert outcomes == dict.fromkeys(outcomes, SignatureError)


def test_receipt_index_and_size_bit_flips_are_caught(t: Tether, receipt: Receipt) -> None:
    leaf = {
        bit: _outcome(dataclasses.replace(receipt, leaf_index=receipt.leaf_index ^ (1 << bit)), t)
        for bit in range(8)
    }
    size = {
        bit: _outcome(dataclasses.replace(receipt, tree_size=receipt.tree_size ^ (1 << bit)), t)
        for bit in range(8)
    }
    digest = _outcome(
        dataclasses.replace(receipt, payload_digest=payload_digest(b'{"verdict":"allow"}')), t
    )
    assert leaf == dict.fromkeys(range(8), VerificationError)  # the entry says otherwise
    assert size == dict.fromkeys(range(8), ProofError)  # the checkpoint says otherwise
    assert digest is VerificationError


def _tampered_receipts(receipt: Receipt) -> dict[str, Receipt]:
    proof = list(receipt.inclusion_proof)
    proof[2] = _flip(proof[2], 5)
    return {
        "proof": dataclasses.replace(receipt, inclusion_proof=tuple(proof)),
        "entry": dataclasses.replace(
            receipt, entry=receipt.entry.replace(b"svc:loan-api", b"svc:loan-apj")
        ),
        "root": _note_with(receipt, _alter_root(receipt.checkpoint, 3)),
        "signature": _note_with(receipt, _alter_signature(receipt.checkpoint, 30)),
        "leaf_index": dataclasses.replace(receipt, leaf_index=receipt.leaf_index ^ 1),
        "tree_size": dataclasses.replace(receipt, tree_size=receipt.tree_size ^ 1),
    }


def test_cli_verify_receipt_rejects_a_tampered_receipt(
    t: Tether, receipt: Receipt, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    public_key = str(t.settings.public_key_path)
    good = tmp_path / "good.receipt"
    good.write_text(receipt.to_json(), encoding="utf-8")
    code, out, err = _cli(capsys, "ledger", "verify-receipt", str(good), "--public-key", public_key)
    entry = verify_receipt(receipt, t.ledger.verifier)
    assert (code, out, err) == (
        0,
        f"receipt valid: entry {K} ({entry.kind} by {entry.actor} at {entry.timestamp}) "
        f"is in log {t.ledger.origin} of 64 entries\n",
        "",
    )

    lines = {}
    for part, tampered in _tampered_receipts(receipt).items():
        bad = tmp_path / f"{part}.receipt"
        bad.write_text(tampered.to_json(), encoding="utf-8")
        lines[part] = _one_error_line(
            *_cli(capsys, "ledger", "verify-receipt", str(bad), "--public-key", public_key)
        )
    no_match = f"error: inclusion proof for leaf {K} in a tree of 64 does not match the root hash"
    bad_signature = "error: " + _NOT_VERIFIED.format(origin=t.ledger.origin)
    assert lines == {
        "proof": no_match,
        "entry": no_match,
        "root": bad_signature,
        "signature": bad_signature,
        "leaf_index": f"error: entry says index {K}, receipt says leaf {K ^ 1}",
        "tree_size": "error: receipt tree_size 65 differs from its checkpoint's size 64",
    }
