"""``tether ledger ...`` driven in-process through ``tether.cli.main``.

Every command's happy path on both dialects, then bad input: each must print exactly
one ``error:`` line on stderr, exit non-zero and leave the database and the home as
they were.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from tether import Settings, Tether
from tether.ledger import Checkpoint, canonical_json
from tether.ledger._merkle import leaf_hash, verify_consistency
from tether.ledger._note import Signer

from .harness import (
    Cli,
    Result,
    connect,
    db_tables,
    drop_everything,
    expect_error,
    ledger_size,
    writes_nothing,
)

# -- harness (the shared part is in harness.py and conftest.py) --------------------------


def stored_entries(url: str) -> list[bytes]:
    with connect(url) as conn:
        rows = conn.execute(text("SELECT idx, entry FROM ledger_entries ORDER BY idx"))
        return [bytes(entry) for _, entry in rows]


@pytest.fixture
def ready(cli: Cli) -> Cli:
    """An initialised tether holding two entries (appended through the API: one open)."""
    cli.ok("init")
    with Tether.open(cli.settings) as t:
        t.ledger.append("decision", "svc:alpha", {"verdict": "allow", "n": 0})
        t.ledger.append("decision", "svc:beta", {"verdict": "deny", "n": 1})
    return cli


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
    with connect(ready.url) as conn:
        root = bytes(conn.execute(text("SELECT root FROM ledger_head")).scalar_one())
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
    with connect(ready.url, write=True) as conn:
        raw = bytes(conn.execute(text("SELECT entry FROM ledger_entries WHERE idx = 1")).scalar())
        forged = raw.replace(b"svc:beta", b"svc:bet4")
        conn.execute(text("UPDATE ledger_entries SET entry = :e WHERE idx = 1"), {"e": forged})
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
    drop_everything(ready.url)
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

BAD_JSON = [b'{"verdict":', b"", b"not json", b"\xff\xfe", b'{"a": NaN}']
BAD_KINDS = ["Bad Kind!", "", "UPPER", "a..b", "decision.", "x" * 65]
BAD_ACTORS = ["", "   ", "bot\x07", "a" * 257]


def test_append_refuses_malformed_json(
    ready: Cli, tmp_path: Path, subtests: pytest.Subtests
) -> None:
    for stdin in BAD_JSON:
        with subtests.test(stdin=stdin), writes_nothing(tmp_path, ready.url, same_size=True):
            result = ready("ledger", "append", "--kind", "decision", "--actor", "bot", stdin=stdin)
            expect_error(result, "payload", "not JSON")


def test_append_refuses_a_malformed_kind(
    ready: Cli, tmp_path: Path, subtests: pytest.Subtests
) -> None:
    for kind in BAD_KINDS:
        with subtests.test(kind=kind), writes_nothing(tmp_path, ready.url, same_size=True):
            result = ready("ledger", "append", "--kind", kind, "--actor", "bot", stdin=b"{}")
            expect_error(result, f"kind {kind!r} is not a valid kind")


def test_append_refuses_a_malformed_actor(
    ready: Cli, tmp_path: Path, subtests: pytest.Subtests
) -> None:
    for actor in BAD_ACTORS:
        with subtests.test(actor=actor), writes_nothing(tmp_path, ready.url, same_size=True):
            result = ready("ledger", "append", "--kind", "decision", "--actor", actor, stdin=b"{}")
            expect_error(result, "actor")


def _pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


# (what is wrong, the key file's new bytes or None to delete it, what the error names)
KEY_PROBLEMS: list[tuple[str, Callable[[], bytes | None], tuple[str, ...]]] = [
    ("missing", lambda: None, ("{key}", "does not exist")),
    ("garbage", lambda: b"\x00\x01garbage\xff\xfe", ("{key}", "corrupt")),
    ("empty", lambda: b"", ("{key}", "corrupt")),
    (
        "bad PEM body",
        lambda: b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ("{key}", "corrupt"),
    ),
    (
        "not Ed25519",
        lambda: _pem(ec.generate_private_key(ec.SECP256R1())),
        ("{key}", "not an Ed25519 key"),
    ),
    (
        "another key",
        lambda: _pem(Ed25519PrivateKey.generate()),
        ("not the key this ledger was created with",),
    ),
]
SIGNING_COMMANDS = {
    "append": (("ledger", "append", "--kind", "decision", "--actor", "bot"), b'{"x": 1}'),
    "checkpoint": (("ledger", "checkpoint"), b""),
}


@pytest.mark.parametrize("command", sorted(SIGNING_COMMANDS))
def test_signing_commands_refuse_a_missing_or_corrupt_key(
    ready: Cli, tmp_path: Path, subtests: pytest.Subtests, command: str
) -> None:
    args, stdin = SIGNING_COMMANDS[command]
    good = ready.signing_key.read_bytes()
    for problem, content, needles in KEY_PROBLEMS:
        with subtests.test(problem=problem):
            new = content()
            if new is None:
                ready.signing_key.unlink()
            else:
                ready.signing_key.write_bytes(new)
            try:
                with writes_nothing(tmp_path, ready.url, same_size=True):
                    result = ready(*args, stdin=stdin)
                    expect_error(result, *(n.format(key=ready.signing_key) for n in needles))
            finally:
                ready.signing_key.write_bytes(good)
    # the good key still works
    if command == "append":
        assert ready.append({"ok": True}) == 2


def test_unknown_index(ready: Cli, tmp_path: Path, subtests: pytest.Subtests) -> None:
    commands = {
        "show": ("ledger", "show", "999999"),
        "proof": ("ledger", "proof", "999999"),
        "erase": ("ledger", "erase", "999999", "--reason", "gdpr", "--actor", "human:dpo"),
    }
    for name, args in commands.items():
        with subtests.test(command=name), writes_nothing(tmp_path, ready.url, same_size=True):
            expect_error(ready(*args), "entry 999999 does not exist")


def test_erase_twice_or_without_a_reason(ready: Cli, tmp_path: Path) -> None:
    ready.ok("ledger", "erase", "0", "--reason", "gdpr", "--actor", "human:dpo")
    with writes_nothing(tmp_path, ready.url, same_size=True):
        result = ready("ledger", "erase", "0", "--reason", "gdpr", "--actor", "human:dpo")
        expect_error(result, "entry 0", "already erased")
    with writes_nothing(tmp_path, ready.url, same_size=True):
        result = ready("ledger", "erase", "2", "--reason", "again", "--actor", "human:dpo")
        expect_error(result, "entry 2 records an erasure")
    with writes_nothing(tmp_path, ready.url, same_size=True):
        result = ready("ledger", "erase", "1", "--reason", "  ", "--actor", "human:dpo")
        expect_error(result, "reason")


def test_export_unknown_format(ready: Cli, tmp_path: Path, subtests: pytest.Subtests) -> None:
    for fmt in ["csv", "JSONL", ""]:
        with subtests.test(fmt=fmt), writes_nothing(tmp_path, ready.url, same_size=True):
            expect_error(ready("ledger", "export", "--format", fmt), f"format {fmt!r}", "jsonl")


def test_bad_checkpoint_files(ready: Cli, tmp_path: Path) -> None:
    ready.ok("ledger", "checkpoint")  # the current tree is checkpointed already
    verifier = ready.verifier()
    key = serialization.load_pem_private_key(ready.signing_key.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    notes = tmp_path / "notes"
    notes.mkdir()
    impostor = notes / "impostor.note"  # right name, wrong key
    impostor.write_text(
        Checkpoint.sign(Signer(Ed25519PrivateKey.generate(), verifier.name), 2, bytes(32)).note,
        encoding="utf-8",
    )
    foreign = notes / "foreign.note"  # another log altogether
    foreign.write_text(
        Checkpoint.sign(Signer(Ed25519PrivateKey.generate(), "other.log"), 1, bytes(32)).note,
        encoding="utf-8",
    )
    lie = notes / "lie.note"  # signed by the ledger's own key, but for another root
    lie.write_text(Checkpoint.sign(Signer(key, verifier.name), 2, b"\x07" * 32).note, "utf-8")
    missing = notes / "missing.note"

    with writes_nothing(tmp_path, ready.url, same_size=True):
        expect_error(ready("ledger", "verify", "--checkpoint", str(impostor)), "not signed by key")
        expect_error(ready("ledger", "verify", "--checkpoint", str(missing)), "does not exist")
        expect_error(ready("ledger", "consistency", str(missing)), str(missing), "does not exist")
        expect_error(ready("ledger", "consistency", str(foreign)), "not signed by key")
        expect_error(ready("ledger", "consistency", str(lie)), "two root hashes differ")
    # verify with a lying checkpoint reports the log as not matching it (exit 1, no error line)
    result = ready("ledger", "verify", "--checkpoint", str(lie))
    assert result.code == 1
    assert "NOT intact" in result.out


# -- verify-receipt: offline, bad files -----------------------------------------------------


@pytest.fixture
def offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
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


def test_verify_receipt_missing_receipt_file(offline: Cli, vkey_file: Path, tmp_path: Path) -> None:
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
