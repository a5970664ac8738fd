"""``tether ledger ...`` driven in-process through ``tether.cli.main``.

Every command's happy path on both dialects, then bad input: each must print exactly
one ``error:`` line on stderr, exit non-zero and leave the database and the home as
they were.
"""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.pool import NullPool

from tether import Settings
from tether.cli import main
from tether.ledger import Checkpoint, Verifier, canonical_json, load_verifier
from tether.ledger._merkle import leaf_hash, verify_consistency
from tether.ledger._note import Signer

# -- harness ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


@dataclass
class Cli:
    settings: Settings
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def url(self) -> str:
        return self.settings.database_url

    @property
    def public_key(self) -> Path:
        return self.settings.public_key_path

    @property
    def signing_key(self) -> Path:
        return self.settings.signing_key_path

    def bare(self, *args: str, stdin: bytes = b"") -> Result:
        """Run ``tether ARGS`` with ``stdin`` piped in; return exit code and output."""
        self.monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            main(list(args))
        out, err = self.capsys.readouterr()
        code = info.value.code
        return Result(code if isinstance(code, int) else 1, out, err)

    def __call__(self, *args: str, stdin: bytes = b"") -> Result:
        """Run ``tether --home HOME --database-url URL ARGS``."""
        return self.bare("--home", str(self.home), "--database-url", self.url, *args, stdin=stdin)

    def ok(self, *args: str, stdin: bytes = b"") -> str:
        result = self(*args, stdin=stdin)
        assert result.code == 0, result
        return result.out

    def append(self, payload: Any, kind: str = "decision", actor: str = "svc:test") -> int:
        out = self.ok("ledger", "append", "--kind", kind, "--actor", actor, stdin=_json(payload))
        return int(out.strip())

    def verifier(self) -> Verifier:
        return load_verifier(self.public_key)


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def expect_error(result: Result, *needles: str) -> str:
    """Assert one clear ``error:`` line naming every needle, nothing on stdout, exit != 0."""
    assert result.code != 0, result
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in line, (needle, line)
    assert result.out == "", result.out
    return line


def _engine(url: str) -> Any:
    return create_engine(url, poolclass=NullPool)


def db_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (a SQLite file is only read if it exists)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        return {}
    engine = _engine(url)
    try:
        names = sorted(inspect(engine).get_table_names())
        with engine.connect() as conn:
            return {
                name: sorted(
                    (tuple(r) for r in conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr
                )
                for name in names
            }
    finally:
        engine.dispose()


def snapshot(root: Path, url: str) -> tuple[dict[str, bytes | None], dict[str, Any]]:
    """Every path under ``root`` with its bytes, then every database row."""
    files = {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }
    return files, db_tables(url)


def ledger_size(url: str) -> int:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT size FROM ledger_head")).scalar_one())
    finally:
        engine.dispose()


def stored_entries(url: str) -> list[bytes]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT idx, entry FROM ledger_entries ORDER BY idx"))
            return [bytes(entry) for _, entry in rows]
    finally:
        engine.dispose()


def destroy_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = Path(parsed.database or "")
        for path in db.parent.glob(db.name + "*"):
            path.unlink()
        return
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            for name in inspect(engine).get_table_names():
                conn.execute(text(f'DROP TABLE "{name}" CASCADE'))
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    import os

    for name in list(os.environ):
        if name.startswith("TETHER_") and name != "TETHER_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "200")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield
    assert list(cwd.iterdir()) == [], "a command wrote into the working directory"


@pytest.fixture
def cli(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    return Cli(settings, capsys, monkeypatch)


@pytest.fixture
def ready(cli: Cli) -> Cli:
    """An initialised tether holding two entries."""
    cli.ok("init")
    cli.append({"verdict": "allow", "n": 0}, actor="svc:alpha")
    cli.append({"verdict": "deny", "n": 1}, actor="svc:beta")
    return cli


@pytest.fixture
def unchanged(ready: Cli, tmp_path: Path) -> Iterator[Callable[[], None]]:
    """Call it once the stage is set; at teardown nothing may have changed since."""
    taken: list[Any] = []

    def take() -> None:
        taken.append((snapshot(tmp_path, ready.url), ledger_size(ready.url)))

    yield take
    assert taken, "the test never took its snapshot"
    before, size = taken[0]
    assert ledger_size(ready.url) == size
    after = snapshot(tmp_path, ready.url)
    assert after[0] == before[0], "files under the test folder changed"
    assert after[1] == before[1], "database rows changed"


# -- happy paths --------------------------------------------------------------------------


def test_append_prints_the_index_and_show_returns_the_entry(cli: Cli) -> None:
    cli.ok("init")
    payload = {"verdict": "allow", "risk": 0.25, "rules": ["P1", "D3"], "who": "Zoë"}
    assert cli.append(payload, kind="policy.published", actor="human:ana") == 0
    out = cli.ok(
        "ledger",
        "append",
        "--kind",
        "decision",
        "--actor",
        "svc:loan-api",
        "--subject",
        "loan/42",
        stdin=b'{"b": 1,\n "a": [true, null]}\n',
    )
    assert out == "1\n"

    first = orjson.loads(cli.ok("ledger", "show", "0"))
    assert first["index"] == 0
    assert first["kind"] == "policy.published"
    assert first["actor"] == "human:ana"
    assert first["subject"] is None
    assert first["payload"] == payload
    assert first["erased_by"] is None
    assert first["payload_digest"].startswith("sha256:")

    second = orjson.loads(cli.ok("ledger", "show", "1"))
    assert second["subject"] == "loan/42"
    assert second["payload"] == {"a": [True, None], "b": 1}
    assert ledger_size(cli.url) == 2


def test_append_accepts_any_json_value(cli: Cli) -> None:
    cli.ok("init")
    for n, payload in enumerate([None, 7, "text", [1, 2], {}]):
        assert cli.append(payload) == n
        assert orjson.loads(cli.ok("ledger", "show", str(n)))["payload"] == payload


def test_tail_shows_the_last_n(ready: Cli) -> None:
    ready.append({"n": 2}, actor="svc:gamma")
    out = ready.ok("ledger", "tail", "-n", "2")
    assert "svc:alpha" not in out
    assert "svc:beta" in out
    assert "svc:gamma" in out
    assert '{"n":2}' in out

    everything = ready.ok("ledger", "tail")
    for actor in ("svc:alpha", "svc:beta", "svc:gamma"):
        assert actor in everything


def test_checkpoint_is_a_signed_note_of_the_current_tree(ready: Cli) -> None:
    note = ready.ok("ledger", "checkpoint")
    cp = Checkpoint.open(note, ready.verifier())
    assert cp.size == 2
    assert cp.origin == ready.verifier().name
    engine = _engine(ready.url)
    with engine.connect() as conn:
        root = bytes(conn.execute(text("SELECT root FROM ledger_head")).scalar_one())
    engine.dispose()
    assert cp.root == root
    # asking again at the same size returns the same signed checkpoint
    assert ready.ok("ledger", "checkpoint") == note


def test_verify_reports_intact(ready: Cli, tmp_path: Path) -> None:
    result = ready("ledger", "verify")
    assert result.code == 0
    assert "intact" in result.out
    assert "NOT" not in result.out

    kept = tmp_path / "kept.note"
    kept.write_text(ready.ok("ledger", "checkpoint"), encoding="utf-8")
    ready.append({"n": 2})
    result = ready("ledger", "verify", "--checkpoint", str(kept))
    assert result.code == 0, result
    assert "ledger intact: 3 entries" in result.out


def test_verify_names_the_first_bad_index_of_a_tampered_log(ready: Cli) -> None:
    ready.append({"n": 2})
    engine = _engine(ready.url)
    with engine.begin() as conn:
        raw = bytes(conn.execute(text("SELECT entry FROM ledger_entries WHERE idx = 1")).scalar())
        forged = raw.replace(b"svc:beta", b"svc:bet4")
        conn.execute(text("UPDATE ledger_entries SET entry = :e WHERE idx = 1"), {"e": forged})
    engine.dispose()
    result = ready("ledger", "verify")
    assert result.code == 1
    assert "NOT intact" in result.out
    assert "first bad index 1" in result.out


def test_proof_gives_a_receipt_that_verifies_offline(
    ready: Cli, tmp_path: Path, settings: Settings
) -> None:
    receipt_text = ready.ok("ledger", "proof", "1")
    receipt = orjson.loads(receipt_text)
    assert receipt["format"] == "tether.receipt/v1"
    assert receipt["leaf_index"] == 1
    assert receipt["tree_size"] == 2
    assert receipt["entry"].encode() == stored_entries(ready.url)[1]

    auditor = tmp_path / "auditor"
    auditor.mkdir()
    pub = auditor / "log.pub"
    out = ready.ok("keys", "export-public", "-o", str(pub))
    assert str(pub) in out
    assert pub.read_text(encoding="utf-8") == ready.public_key.read_text(encoding="utf-8")
    receipt_file = auditor / "receipt-1.json"
    receipt_file.write_text(receipt_text, encoding="utf-8")

    # offline: no database, no home, no --home
    destroy_database(ready.url)
    shutil.rmtree(settings.home)
    result = ready.bare("ledger", "verify-receipt", str(receipt_file), "--public-key", str(pub))
    assert result.code == 0, result
    assert result.out.startswith("receipt valid: entry 1 (decision by svc:beta")
    assert "of 2 entries" in result.out
    assert not settings.home.exists()
    assert db_tables(ready.url) == {}

    # a receipt altered after the fact does not verify
    forged = dict(receipt, entry=receipt["entry"].replace("svc:beta", "svc:bet4"))
    forged_file = auditor / "forged.json"
    forged_file.write_bytes(orjson.dumps(forged))
    result = ready.bare("ledger", "verify-receipt", str(forged_file), "--public-key", str(pub))
    expect_error(result, "inclusion proof")


def test_consistency_proves_the_log_extends_an_old_checkpoint(ready: Cli, tmp_path: Path) -> None:
    old_note = ready.ok("ledger", "checkpoint")
    old_file = tmp_path / "old.note"
    old_file.write_text(old_note, encoding="utf-8")
    for n in range(2, 7):
        ready.append({"n": n})

    data = orjson.loads(ready.ok("ledger", "consistency", str(old_file)))
    assert data["old_size"] == 2
    assert data["new_size"] == 7
    verifier = ready.verifier()
    old = Checkpoint.open(old_note, verifier)
    new = Checkpoint.open(data["checkpoint"], verifier)
    assert new.size == 7
    proof = [base64.b64decode(h, validate=True) for h in data["proof"]]
    assert proof
    verify_consistency(old.size, new.size, proof, old.root, new.root)


def test_erase_keeps_the_entry_and_the_log_valid(ready: Cli) -> None:
    out = ready.ok("ledger", "erase", "0", "--reason", "GDPR request #4711", "--actor", "human:dpo")
    assert out == "erased payload of entry 0; recorded as entry 2\n"
    erased = orjson.loads(ready.ok("ledger", "show", "0"))
    assert erased["payload"] is None
    assert erased["erased_by"] == 2
    record = orjson.loads(ready.ok("ledger", "show", "2"))
    assert record["kind"] == "payload.erased"
    assert record["actor"] == "human:dpo"
    assert record["subject"] == "ledger/0"
    assert record["payload"] == {"index": 0, "reason": "GDPR request #4711"}
    assert "intact" in ready.ok("ledger", "verify")
    assert "(erased)" in ready.ok("ledger", "tail")


def test_export_jsonl(ready: Cli, tmp_path: Path) -> None:
    ready.ok("ledger", "erase", "1", "--reason", "retention", "--actor", "human:dpo")
    ready.append({"n": "last", "emoji": "\U0001f600"})
    size = ledger_size(ready.url)
    stored = stored_entries(ready.url)

    out = ready.ok("ledger", "export", "--format", "jsonl")
    lines = out.splitlines()
    assert len(lines) == size == len(stored) == 4
    rows = [orjson.loads(line) for line in lines]
    for i, row in enumerate(rows):
        assert row["index"] == i
        assert row["entry"].encode() == stored[i]
        assert canonical_json(orjson.loads(row["entry"])) == stored[i]
        assert row["leaf_hash"] == leaf_hash(stored[i]).hex()
    assert rows[0]["payload"] == {"verdict": "allow", "n": 0}
    assert rows[1]["payload"] is None
    assert rows[1]["erased_by"] == 2
    assert rows[3]["payload"] == {"n": "last", "emoji": "\U0001f600"}

    target = tmp_path / "export.jsonl"
    result = ready("ledger", "export", "-o", str(target))
    assert result.code == 0, result
    assert result.out == ""
    assert target.read_text(encoding="utf-8") == out


# -- bad input: one error line, nothing written ---------------------------------------------


@pytest.mark.parametrize(
    "stdin",
    [b'{"verdict":', b"", b"not json", b"{'single': 'quotes'}", b"\xff\xfe", b'{"a": NaN}'],
)
def test_append_refuses_malformed_json(
    ready: Cli, unchanged: Callable[[], None], stdin: bytes
) -> None:
    unchanged()
    result = ready("ledger", "append", "--kind", "decision", "--actor", "bot", stdin=stdin)
    expect_error(result, "payload", "not JSON")


@pytest.mark.parametrize(
    "kind", ["Bad Kind!", "", "UPPER", "decision.", ".decision", "a..b", "9lives", "x" * 65]
)
def test_append_refuses_a_malformed_kind(
    ready: Cli, unchanged: Callable[[], None], kind: str
) -> None:
    unchanged()
    result = ready("ledger", "append", "--kind", kind, "--actor", "bot", stdin=b"{}")
    expect_error(result, f"kind {kind!r} is not a valid kind")


@pytest.mark.parametrize("actor", ["", "   ", "bot\x07", "a" * 257])
def test_append_refuses_a_malformed_actor(
    ready: Cli, unchanged: Callable[[], None], actor: str
) -> None:
    unchanged()
    result = ready("ledger", "append", "--kind", "decision", "--actor", actor, stdin=b"{}")
    expect_error(result, "actor")


def _signing_args(command: str) -> tuple[tuple[str, ...], bytes]:
    if command == "append":
        return ("ledger", "append", "--kind", "decision", "--actor", "bot"), b'{"x": 1}'
    return ("ledger", "checkpoint"), b""


@pytest.mark.parametrize("command", ["append", "checkpoint"])
def test_missing_signing_key(ready: Cli, unchanged: Callable[[], None], command: str) -> None:
    ready.signing_key.unlink()
    unchanged()
    args, stdin = _signing_args(command)
    expect_error(ready(*args, stdin=stdin), str(ready.signing_key), "does not exist")


@pytest.mark.parametrize("command", ["append", "checkpoint"])
@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01garbage\xff\xfe",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"",
    ],
)
def test_corrupt_signing_key(
    ready: Cli, unchanged: Callable[[], None], command: str, content: bytes
) -> None:
    ready.signing_key.write_bytes(content)
    unchanged()
    args, stdin = _signing_args(command)
    expect_error(ready(*args, stdin=stdin), str(ready.signing_key), "corrupt")


@pytest.mark.parametrize("command", ["append", "checkpoint"])
def test_signing_key_of_the_wrong_type(
    ready: Cli, unchanged: Callable[[], None], command: str
) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ready.signing_key.write_bytes(pem)
    unchanged()
    args, stdin = _signing_args(command)
    expect_error(ready(*args, stdin=stdin), "not an Ed25519 key")


@pytest.mark.parametrize("command", ["append", "checkpoint"])
def test_replaced_signing_key(ready: Cli, unchanged: Callable[[], None], command: str) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ready.signing_key.write_bytes(pem)
    unchanged()
    args, stdin = _signing_args(command)
    expect_error(ready(*args, stdin=stdin), "not the key this ledger was created with")


def test_show_unknown_index(ready: Cli, unchanged: Callable[[], None]) -> None:
    unchanged()
    expect_error(ready("ledger", "show", "999999"), "entry 999999 does not exist")


def test_proof_of_unknown_index(ready: Cli, unchanged: Callable[[], None]) -> None:
    unchanged()
    expect_error(ready("ledger", "proof", "999999"), "entry 999999 does not exist")


def test_erase_unknown_index(ready: Cli, unchanged: Callable[[], None]) -> None:
    unchanged()
    result = ready("ledger", "erase", "999999", "--reason", "gdpr", "--actor", "human:dpo")
    expect_error(result, "entry 999999 does not exist")


def test_erase_twice(ready: Cli, unchanged: Callable[[], None]) -> None:
    ready.ok("ledger", "erase", "0", "--reason", "gdpr", "--actor", "human:dpo")
    unchanged()
    result = ready("ledger", "erase", "0", "--reason", "gdpr", "--actor", "human:dpo")
    expect_error(result, "entry 0", "already erased")


def test_erase_needs_a_reason(ready: Cli, unchanged: Callable[[], None]) -> None:
    unchanged()
    result = ready("ledger", "erase", "0", "--reason", "  ", "--actor", "human:dpo")
    expect_error(result, "reason")


@pytest.mark.parametrize("fmt", ["csv", "JSONL", ""])
def test_export_unknown_format(ready: Cli, unchanged: Callable[[], None], fmt: str) -> None:
    unchanged()
    expect_error(ready("ledger", "export", "--format", fmt), f"format {fmt!r}", "jsonl")


def test_verify_with_a_checkpoint_of_another_log(
    ready: Cli, unchanged: Callable[[], None], tmp_path: Path
) -> None:
    other = Signer(Ed25519PrivateKey.generate(), ready.verifier().name)
    forged = tmp_path / "forged.note"
    forged.write_text(Checkpoint.sign(other, 2, b"\x00" * 32).note, encoding="utf-8")
    unchanged()
    expect_error(ready("ledger", "verify", "--checkpoint", str(forged)), "not signed by key")


def test_consistency_with_a_missing_or_foreign_checkpoint(
    ready: Cli, unchanged: Callable[[], None], tmp_path: Path
) -> None:
    ready.ok("ledger", "checkpoint")  # the current tree is checkpointed already
    other = Signer(Ed25519PrivateKey.generate(), "someone.else/log")
    foreign = tmp_path / "foreign.note"
    foreign.write_text(Checkpoint.sign(other, 1, b"\x00" * 32).note, encoding="utf-8")
    unchanged()
    missing = tmp_path / "missing.note"
    expect_error(ready("ledger", "consistency", str(missing)), str(missing), "does not exist")
    expect_error(ready("ledger", "consistency", str(foreign)), "not signed by key")


def test_consistency_with_a_checkpoint_the_log_does_not_extend(
    ready: Cli, unchanged: Callable[[], None], tmp_path: Path
) -> None:
    ready.ok("ledger", "checkpoint")
    signer_pem = ready.signing_key.read_bytes()
    key = serialization.load_pem_private_key(signer_pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    lie = Signer(key, ready.verifier().name)
    bogus = tmp_path / "bogus.note"
    bogus.write_text(Checkpoint.sign(lie, 2, b"\x07" * 32).note, encoding="utf-8")
    unchanged()
    expect_error(ready("ledger", "consistency", str(bogus)), "two root hashes differ")


# -- verify-receipt: offline, bad files -----------------------------------------------------


@pytest.fixture
def offline(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """A CLI with no home and no database: verify-receipt needs neither."""
    return Cli(Settings(home=tmp_path / "no-home"), capsys, monkeypatch)


@pytest.fixture
def vkey_file(tmp_path: Path) -> Path:
    path = tmp_path / "log.pub"
    path.write_text(
        Signer(Ed25519PrivateKey.generate(), "example.com/log").verifier.vkey + "\n",
        encoding="utf-8",
    )
    return path


def _verify_receipt(offline: Cli, receipt: Path, pub: Path) -> Result:
    before = sorted(offline.home.parent.rglob("*"))
    result = offline.bare("ledger", "verify-receipt", str(receipt), "--public-key", str(pub))
    assert sorted(offline.home.parent.rglob("*")) == before
    return result


@pytest.mark.parametrize("content", [b"", b"not json", b'{"format": ', b"\xff\xfe\x00"])
def test_verify_receipt_not_json(
    offline: Cli, vkey_file: Path, tmp_path: Path, content: bytes
) -> None:
    receipt = tmp_path / "receipt.json"
    receipt.write_bytes(content)
    line = expect_error(_verify_receipt(offline, receipt, vkey_file), "receipt")
    assert "not JSON" in line or "cannot read" in line


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"null", "not a tether receipt"),
        (b"[1, 2, 3]", "not a tether receipt"),
        (b'{"entry": "{}"}', "not a tether receipt"),
        (b'{"format": "tether.receipt/v2"}', "not a tether receipt"),
        (b'{"format": "tether.receipt/v1"}', "lacks the field"),
        (
            b'{"format": "tether.receipt/v1", "entry": "{}", "payload_digest": "x", '
            b'"leaf_index": 0, "tree_size": 1, "inclusion_proof": ["not base64!"], '
            b'"checkpoint": ""}',
            "inclusion_proof is malformed",
        ),
        (
            b'{"format": "tether.receipt/v1", "entry": "{}", "payload_digest": "x", '
            b'"leaf_index": "0", "tree_size": 1, "inclusion_proof": [], "checkpoint": ""}',
            "leaf_index",
        ),
    ],
)
def test_verify_receipt_json_but_not_a_receipt(
    offline: Cli, vkey_file: Path, tmp_path: Path, content: bytes, needle: str
) -> None:
    receipt = tmp_path / "receipt.json"
    receipt.write_bytes(content)
    expect_error(_verify_receipt(offline, receipt, vkey_file), needle)


def test_verify_receipt_missing_receipt_file(
    offline: Cli, vkey_file: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.json"
    expect_error(_verify_receipt(offline, missing, vkey_file), str(missing), "does not exist")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\x00\xffgarbage\xfe", "public key"),
        (b"garbage", "not a verifier key"),
        (b"", "not a verifier key"),
        (b"name+zz+AAAA", "not valid base64/hex"),
        (b"name+00000000+AAAA", "not an Ed25519 key"),
    ],
)
def test_verify_receipt_garbage_public_key(
    offline: Cli, tmp_path: Path, content: bytes, needle: str
) -> None:
    receipt = tmp_path / "receipt.json"
    receipt.write_text('{"format": "tether.receipt/v1"}', encoding="utf-8")
    pub = tmp_path / "garbage.pub"
    pub.write_bytes(content)
    expect_error(_verify_receipt(offline, receipt, pub), needle)


def test_verify_receipt_missing_public_key(offline: Cli, tmp_path: Path) -> None:
    receipt = tmp_path / "receipt.json"
    receipt.write_text("{}", encoding="utf-8")
    missing = tmp_path / "missing.pub"
    expect_error(_verify_receipt(offline, receipt, missing), str(missing), "does not exist")


def test_verify_receipt_with_the_key_of_another_log(ready: Cli, tmp_path: Path) -> None:
    receipt = tmp_path / "receipt.json"
    receipt.write_text(ready.ok("ledger", "proof", "0"), encoding="utf-8")
    other = tmp_path / "other.pub"
    other.write_text(
        Signer(Ed25519PrivateKey.generate(), "other.log").verifier.vkey, encoding="utf-8"
    )
    result = ready.bare("ledger", "verify-receipt", str(receipt), "--public-key", str(other))
    expect_error(result, "not signed by key")
