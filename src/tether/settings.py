"""Settings: one declared table, read once from the environment and passed explicitly.

Every field has a default and a help string; ``docs/settings.md`` documents each one
(a test fails when a field is missing there).

Example:
    >>> s = Settings(home="/tmp/tether-doc")
    >>> s.resolved_database_url()
    'sqlite:////tmp/tether-doc/tether.db'
    >>> s.signing_key_path.name
    'ledger.key'
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Durability", "Settings"]


class Durability(StrEnum):
    """When an append returns.

    ``durable``: only after its transaction committed (and, on SQLite, the WAL was
    fsynced). ``async``: at once, with a future; a background writer commits it in
    the next group commit, and entries not yet committed are lost if the process dies.
    """

    DURABLE = "durable"
    ASYNC = "async"


class Settings(BaseSettings):
    """tether's settings, from ``TETHER_*`` environment variables or keyword arguments."""

    model_config = SettingsConfigDict(env_prefix="TETHER_", extra="forbid", frozen=True)

    home: Path = Field(
        default=Path(".tether"),
        description="Folder holding the SQLite database and the ledger keys.",
    )
    database_url: str = Field(
        default="",
        description=(
            "SQLAlchemy URL of the store. Empty means SQLite at HOME/tether.db. "
            "PostgreSQL: postgresql+psycopg://user@host:5432/dbname."
        ),
    )
    signing_key: Path | None = Field(
        default=None,
        description="Ed25519 private key (PKCS#8 PEM) that signs checkpoints. "
        "Default: HOME/keys/ledger.key.",
    )
    durability: Durability = Field(
        default=Durability.DURABLE,
        description="Durability of records tether writes on your behalf: 'durable' "
        "(return after commit) or 'async' (return at once; see docs/ledger.md).",
    )
    checkpoint_every: int = Field(
        default=1000,
        ge=0,
        description="Sign a checkpoint automatically every N appended entries (0: never).",
    )
    checkpoint_interval: float = Field(
        default=60.0,
        ge=0,
        description="Sign a checkpoint on the first append more than T seconds after the "
        "last checkpoint (0: never).",
    )
    cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long a process reuses the enforced policy, systems and actors it "
        "read before looking again (a change made by another process shows within this "
        "time; breakers and kill switches are read on every decision).",
    )
    breaker_failures: int = Field(
        default=5,
        ge=1,
        description="Consecutive failures of one action that open its breaker (systems and "
        "agents open on their error rate).",
    )
    breaker_error_rate: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of failed calls in a breaker window that opens the breaker.",
    )
    breaker_window: float = Field(
        default=60.0,
        gt=0,
        description="Length of a breaker's error-rate window, in seconds (at least "
        "TETHER_BREAKER_MIN_CALLS calls must fall in it).",
    )
    breaker_min_calls: int = Field(
        default=20, ge=1, description="Calls a window needs before its error rate counts."
    )
    breaker_cooldown: float = Field(
        default=30.0,
        gt=0,
        description="Seconds an automatically opened breaker waits before letting one "
        "probe call through (half-open).",
    )
    signal_cooldown: float = Field(
        default=3600.0,
        ge=0,
        description="Seconds during which the same monitoring condition (system, kind, "
        "feature, statistic) is not raised again at the same or a lower severity.",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=60_000,
        ge=0,
        description="How long a SQLite writer waits for another process's write lock.",
    )
    otel: bool = Field(
        default=False,
        description="tether serve: emit an OpenTelemetry span per decision through the "
        "global tracer provider your OpenTelemetry SDK set-up configures (needs "
        "tether[otel]; tether configures no exporter). See docs/telemetry.md.",
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, v: Path) -> Path:
        return v.expanduser()

    @property
    def signing_key_path(self) -> Path:
        """Path of the private signing key."""
        return self.signing_key or self.home / "keys" / "ledger.key"

    @property
    def public_key_path(self) -> Path:
        """Path of the exported verifier key beside the signing key."""
        return self.signing_key_path.with_suffix(".pub")

    def resolved_database_url(self) -> str:
        """Return the store URL, defaulting to SQLite inside ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home.absolute() / 'tether.db'}"
