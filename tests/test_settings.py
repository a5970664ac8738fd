"""Settings: defaults, environment, validation, and every field documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tether import Durability, Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [
        f"TETHER_{name.upper()}"
        for name in Settings.model_fields
        if f"TETHER_{name.upper()}" not in text
    ]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.home == Path(".tether")
    assert s.durability is Durability.DURABLE
    assert s.signing_key_path == Path(".tether/keys/ledger.key")
    assert s.resolved_database_url() == f"sqlite:///{tmp_path / '.tether' / 'tether.db'}"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TETHER_HOME", str(tmp_path))
    monkeypatch.setenv("TETHER_DURABILITY", "async")
    monkeypatch.setenv("TETHER_CHECKPOINT_EVERY", "7")
    monkeypatch.setenv("TETHER_SIGNING_KEY", str(tmp_path / "k.pem"))
    s = Settings()
    assert (s.home, s.durability, s.checkpoint_every) == (tmp_path, Durability.ASYNC, 7)
    assert s.public_key_path == tmp_path / "k.pub"


@pytest.mark.parametrize(
    ("name", "value"),
    [("TETHER_CHECKPOINT_EVERY", "-1"), ("TETHER_DURABILITY", "sometimes")],
)
def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()
