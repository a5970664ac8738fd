"""The ``tether`` app as a whole: init, db upgrade, keys, demo, settings and the error contract.

Commands run in-process through ``tether.cli.main`` (which always ends in SystemExit);
two tests run the installed ``tether`` script in a real subprocess.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

import tether.store.engine
from tether import Settings
from tether.ledger import load_verifier

from .harness import (
    Cli,
    connect,
    db_tables,
    drop_everything,
    expect_error,
    is_sqlite,
    sqlite_file,
    writes_nothing,
)

TETHER = Path(sys.executable).with_name("tether")
HEAD_REVISION = ScriptDirectory(
    str(Path(tether.store.engine.__file__).with_name("migrations"))
).get_current_head()
PAYLOAD = b'{"verdict": "allow"}'


# -- harness (the shared part is in harness.py and conftest.py) --------------------------


def execute(url: str, sql: str, **params: Any) -> None:
    with connect(url, write=True) as conn:
        conn.execute(text(sql), params)


@pytest.fixture
def ready(cli: Cli) -> Cli:
    """An initialised tether with two entries and a checkpoint."""
    cli.ok("init")
    for n in range(2):
        cli.ok("ledger", "append", "--kind", "decision", "--actor", f"svc:{n}", stdin=PAYLOAD)
    cli.ok("ledger", "checkpoint")
    return cli


def _sqlite_cli(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """A CLI on the default database, HOME/tether.db."""
    settings = Settings(home=home)
    return Cli(settings, capsys, monkeypatch)


# -- subprocess: the installed script --------------------------------------------------------


def test_help_lists_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = _sqlite_cli(tmp_path / "unused", capsys, monkeypatch)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["COLUMNS"] = "200"
    proc = subprocess.run(
        [str(TETHER), "--help"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("init", "ledger", "db", "keys", "policy", "approvals", "breakers", "demo"):
        assert f" {command} " in proc.stdout, command

    groups = {
        "ledger": (
            "append",
            "show",
            "tail",
            "checkpoint",
            "verify",
            "proof",
            "verify-receipt",
            "consistency",
            "erase",
            "export",
        ),
        "db": ("upgrade",),
        "keys": ("export-public",),
        "policy": ("check", "test", "publish", "replay", "clear-shadow"),
        "approvals": ("list", "show", "approve", "reject", "override", "tick"),
        "breakers": ("list", "trip", "reset"),
        "systems": ("register", "list"),
        "actors": ("register", "list", "deactivate"),
        "monitor": ("profile", "baseline", "drift"),
    }
    for group, commands in groups.items():
        result = cli.bare(group, "--help")
        assert result.code == 0, result
        for command in commands:
            assert f" {command} " in result.out, (group, command)


def test_script_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    home = tmp_path / "never"
    proc = subprocess.run(
        [str(TETHER), "--home", str(home), "ledger", "show", "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"error: database folder {home.absolute()} does not exist; run 'tether init' or create it"
    ]
    assert not home.exists()


# -- init, db upgrade, keys ------------------------------------------------------------------


def test_init_is_idempotent(cli: Cli) -> None:
    first = cli.ok("init")
    assert first.startswith(f"initialised {cli.home} (log tether.local/")
    key_path = cli.home / "keys" / "ledger.key"
    pub_path = cli.home / "keys" / "ledger.pub"
    assert f"public key: {pub_path}" in first
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key, pub = key_path.read_bytes(), pub_path.read_bytes()
    origin = load_verifier(pub_path).name
    assert f"(log {origin})" in first
    cli.ok("ledger", "append", "--kind", "decision", "--actor", "bot", stdin=PAYLOAD)
    rows = db_tables(cli.url)

    second = cli.ok("init")
    assert second == first
    assert key_path.read_bytes() == key
    assert pub_path.read_bytes() == pub
    assert db_tables(cli.url) == rows
    assert orjson.loads(cli.ok("ledger", "show", "0"))["actor"] == "bot"


def test_init_records_the_key_and_origin_in_the_database(cli: Cli) -> None:
    cli.ok("init")
    verifier = load_verifier(cli.home / "keys" / "ledger.pub")
    meta = dict(db_tables(cli.url)["ledger_meta"])
    assert meta["origin"] == verifier.name
    assert meta["verifier_key"] == verifier.vkey


def test_init_on_the_default_sqlite_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "deep" / "home"
    cli = _sqlite_cli(home, capsys, monkeypatch)
    assert cli.bare("--home", str(home), "init").code == 0
    assert (home / "tether.db").is_file()
    result = cli.bare("--home", str(home), "init")
    assert result.code == 0, result
    result = cli.bare("--home", str(home), "ledger", "verify")
    assert result.code == 0, result
    assert "intact" in result.out


def test_home_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "env-home"
    monkeypatch.setenv("TETHER_HOME", str(home))
    cli = _sqlite_cli(home, capsys, monkeypatch)
    assert cli.bare("init").code == 0
    assert (home / "tether.db").is_file()
    assert cli.bare("ledger", "append", "--kind", "a", "--actor", "b", stdin=b"1").out == "0\n"


def test_db_upgrade(ready: Cli) -> None:
    rows = db_tables(ready.url)
    assert ready.ok("db", "upgrade") == f"schema at revision {HEAD_REVISION}\n"
    assert ready.ok("db", "upgrade") == f"schema at revision {HEAD_REVISION}\n"
    assert db_tables(ready.url) == rows
    assert rows["alembic_version"] == [(HEAD_REVISION,)]


def test_db_upgrade_of_an_uninitialised_database(cli: Cli, tmp_path: Path) -> None:
    if is_sqlite(cli.url):
        # no SQLite file is created: 'tether init' does that
        with writes_nothing(tmp_path, cli.url):
            expect_error(cli("db", "upgrade"), "no database at", "tether init")
        assert not sqlite_file(cli.url).exists()
    else:
        # the PostgreSQL database exists but holds no tether schema: refused, not created
        with writes_nothing(tmp_path, cli.url):
            expect_error(cli("db", "upgrade"), "no tether database at", "tether init")
        cli.ok("init")
        assert cli.ok("db", "upgrade") == f"schema at revision {HEAD_REVISION}\n"


def test_keys_export_public(ready: Cli, tmp_path: Path) -> None:
    pub = (ready.home / "keys" / "ledger.pub").read_text(encoding="utf-8")
    assert ready.ok("keys", "export-public") == pub
    target = tmp_path / "out.pub"
    assert ready.ok("keys", "export-public", "--output", str(target)) == f"wrote {target}\n"
    assert target.read_text(encoding="utf-8") == pub
    # without the private key, the exported public key is used
    (ready.home / "keys" / "ledger.key").unlink()
    assert ready.ok("keys", "export-public") == pub


def test_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = _sqlite_cli(tmp_path / "unused", capsys, monkeypatch)
    home = tmp_path / "demo"
    result = cli.bare("demo", "--home", str(home), "--fresh", "--entries", "1300")
    assert result.code == 0, result
    assert "offline receipt check" in result.out
    assert "automatic rollback by response drift-rolls-back" in result.out
    assert "the next prediction was served by v1" in result.out
    assert "gates refused loan-model v3 as champion" in result.out
    assert '"why was I declined?"' in result.out
    assert "first bad index" in result.out
    assert "demo complete" in result.out
    assert (home / "receipt-42.json").is_file()
    assert (home / "keys" / "ledger.pub").is_file()


def test_demo_with_few_entries_does_not_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--entries`` below the demo's hard-coded tamper index (1234) must not traceback."""
    cli = _sqlite_cli(tmp_path / "unused", capsys, monkeypatch)
    result = cli.bare("demo", "--home", str(tmp_path / "demo"), "--entries", "100")
    if result.code != 0:
        expect_error(result, "entries")


# -- the error contract: one line, exit 1, nothing written -------------------------------------


def _commands(note: Path) -> dict[str, tuple[tuple[str, ...], bytes]]:
    """Every command that opens the tether, with arguments valid for a ready ledger."""
    return {
        "db upgrade": (("db", "upgrade"), b""),
        "ledger append": (("ledger", "append", "--kind", "decision", "--actor", "x"), PAYLOAD),
        "ledger show": (("ledger", "show", "0"), b""),
        "ledger tail": (("ledger", "tail", "-n", "1"), b""),
        "ledger checkpoint": (("ledger", "checkpoint"), b""),
        "ledger verify": (("ledger", "verify"), b""),
        "ledger proof": (("ledger", "proof", "0"), b""),
        "ledger consistency": (("ledger", "consistency", str(note)), b""),
        "ledger erase": (("ledger", "erase", "0", "--reason", "gdpr", "--actor", "h:x"), b""),
        "ledger export": (("ledger", "export"), b""),
        "keys export-public": (("keys", "export-public"), b""),
    }


def test_newer_schema_is_refused_by_every_command(
    ready: Cli, tmp_path: Path, subtests: pytest.Subtests
) -> None:
    note = tmp_path / "old.note"
    note.write_text(ready.ok("ledger", "checkpoint"), encoding="utf-8")
    execute(ready.url, "UPDATE alembic_version SET version_num = '9999'")
    commands = {"init": (("init",), b""), **_commands(note)}
    for name, (args, stdin) in commands.items():
        with subtests.test(command=name), writes_nothing(tmp_path, ready.url):
            result = ready(*args, stdin=stdin)
            expect_error(result, "schema revision '9999'", "newer than this tether", "upgrade")


def test_uninitialised_home_is_not_created(
    cli: Cli, tmp_path: Path, subtests: pytest.Subtests
) -> None:
    """No command but init creates the home or the database (or its tables)."""
    note = tmp_path / "old.note"
    note.write_text("origin\n1\nAA==\n", encoding="utf-8")
    commands = _commands(note)
    if not is_sqlite(cli.url):
        del commands["db upgrade"]  # on PostgreSQL that is its job: see above
    for name, (args, stdin) in commands.items():
        with subtests.test(command=name):
            try:
                with writes_nothing(tmp_path, cli.url):
                    result = cli(*args, stdin=stdin)
                    assert not cli.home.exists(), "the command created the home"
                    assert db_tables(cli.url) == {}, "the command created the database"
                    expect_error(result, "tether init")
            finally:
                drop_everything(cli.url)  # so each command starts from nothing


@pytest.mark.parametrize("home_exists", [False, True])
def test_uninitialised_default_home(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    subtests: pytest.Subtests,
    home_exists: bool,
) -> None:
    home = tmp_path / "home"
    if home_exists:
        home.mkdir()
    cli = _sqlite_cli(home, capsys, monkeypatch)
    note = tmp_path / "old.note"
    note.write_text("origin\n1\nAA==\n", encoding="utf-8")
    needle = "no database at" if home_exists else f"database folder {home} does not exist"
    for name, (args, stdin) in _commands(note).items():
        with (
            subtests.test(command=name),
            writes_nothing(tmp_path, cli.settings.resolved_database_url()),
        ):
            expect_error(cli.bare("--home", str(home), *args, stdin=stdin), needle, "tether init")
    assert not (home / "tether.db").exists()


def test_init_does_not_replace_a_lost_key(ready: Cli, tmp_path: Path) -> None:
    """Re-running init after the signing key was lost must not mint a new key (or a new .pub)."""
    key = ready.home / "keys" / "ledger.key"
    pub = ready.home / "keys" / "ledger.pub"
    vkey = pub.read_bytes()
    key.unlink()
    with writes_nothing(tmp_path, ready.url):
        result = ready("init")
        assert not key.exists(), "init minted a new signing key for an existing ledger"
        assert pub.read_bytes() == vkey, "init overwrote the ledger's public key"
        expect_error(result, str(key))


def test_init_with_a_corrupt_key_creates_no_database(cli: Cli, tmp_path: Path) -> None:
    key = cli.home / "keys" / "ledger.key"
    key.parent.mkdir(parents=True)
    key.write_bytes(b"garbage")
    with writes_nothing(tmp_path, cli.url):
        result = cli("init")
        assert db_tables(cli.url) == {}, "init created the database before reading the key"
        expect_error(result, str(key), "corrupt")


BAD_SETTINGS = [
    ("TETHER_CHECKPOINT_EVERY", "-1"),
    ("TETHER_CHECKPOINT_EVERY", "many"),
    ("TETHER_DURABILITY", "bogus"),
    ("TETHER_CHECKPOINT_INTERVAL", "-0.5"),
    ("TETHER_SQLITE_BUSY_TIMEOUT_MS", "-5"),
]


def test_invalid_setting_in_the_environment(
    ready: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, subtests: pytest.Subtests
) -> None:
    fresh = Cli(
        Settings(home=tmp_path / "fresh", database_url=f"sqlite:///{tmp_path / 'fresh.db'}"),
        ready.capsys,
        monkeypatch,
    )
    for var, value in BAD_SETTINGS:
        monkeypatch.setenv(var, value)
        for who, cli, args, stdin in (
            ("fresh init", fresh, ("init",), b""),
            ("show", ready, ("ledger", "show", "0"), b""),
            ("append", ready, ("ledger", "append", "--kind", "a", "--actor", "b"), b"{}"),
        ):
            with (
                subtests.test(setting=var, value=value, command=who),
                writes_nothing(tmp_path, ready.url),
            ):
                expect_error(cli(*args, stdin=stdin), f"setting {var}")
        monkeypatch.delenv(var)
    assert not fresh.home.exists()


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("mysql://u@h/db", "'mysql' is not supported"),
        ("not a url", "not a database URL"),
    ],
)
def test_bad_database_url(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    needle: str,
) -> None:
    home = tmp_path / "home"
    cli = _sqlite_cli(home, capsys, monkeypatch)
    before = sorted(tmp_path.rglob("*"))
    expect_error(
        cli.bare("--home", str(home), "--database-url", url, "ledger", "show", "0"), needle
    )
    monkeypatch.setenv("TETHER_DATABASE_URL", url)
    expect_error(cli.bare("--home", str(home), "ledger", "tail"), needle)
    assert sorted(tmp_path.rglob("*")) == before


def test_home_that_cannot_be_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    home = blocker / "home"
    cli = _sqlite_cli(home, capsys, monkeypatch)
    expect_error(cli.bare("--home", str(home), "init"), "cannot create TETHER_HOME", str(home))


def test_unreachable_database_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    cli = _sqlite_cli(home, capsys, monkeypatch)
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=5"
    result = cli.bare("--home", str(home), "--database-url", url, "ledger", "show", "0")
    expect_error(result, "cannot open database", "127.0.0.1:1")
    assert not home.exists()


def test_a_garbage_database_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "tether.db").write_bytes(b"not a database\n" * 100)
    cli = _sqlite_cli(home, capsys, monkeypatch)
    expect_error(cli.bare("--home", str(home), "ledger", "show", "0"), "not a database")
