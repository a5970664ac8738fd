"""Tether: owns the settings, the store, the ledger keys and the clock.

Example:
    >>> import tempfile
    >>> from tether import Settings, Tether
    >>> home = tempfile.mkdtemp()
    >>> with Tether.init(Settings(home=home)) as t:
    ...     t.ledger.append("decision", "svc:loan-api", {"verdict": "allow"}).index
    0
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from tether.clock import Clock, SystemClock
from tether.errors import ConfigurationError, KeyFileError, StoreError
from tether.ledger._ledger import Ledger, initialise
from tether.ledger._note import Signer, Verifier, generate_key, load_signer, load_verifier
from tether.settings import Durability, Settings
from tether.store import Store, open_store
from tether.store import ledger_repo as repo

if TYPE_CHECKING:
    from tether.approvals import Approvals
    from tether.explain import Explanations
    from tether.monitoring import Feedback, Monitor, Signals
    from tether.pipeline import Breakers, Decision, Pipeline, Run
    from tether.policy import Policies
    from tether.registry import Actors, Gates, Models, Responses, Review, Systems

__all__ = ["Tether", "open"]

R = TypeVar("R")


class Tether:
    """The running tether: store, ledger and clock, opened from one :class:`Settings`."""

    def __init__(
        self,
        settings: Settings | None = None,
        store: Store | None = None,
        ledger: Ledger | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``Tether(settings)`` opens an initialised tether, as :meth:`open` does.

        Raises:
            StoreError: the database cannot be opened or was never initialised.
        """
        if store is None or ledger is None:
            opened = Tether.open(settings, clock=clock)
            self.settings: Settings = opened.settings
            self.store: Store = opened.store
            self.ledger: Ledger = opened.ledger
            self.clock: Clock = opened.clock
            return
        self.settings = settings or Settings()
        self.store = store
        self.ledger = ledger
        self.clock = clock or SystemClock()

    # -- the governance services (created on first use) -------------------------------

    @cached_property
    def systems(self) -> Systems:
        """The inventory of AI systems."""
        from tether.registry import Systems

        return Systems(self)

    @cached_property
    def actors(self) -> Actors:
        """The people, services and agents that act."""
        from tether.registry import Actors

        return Actors(self)

    @cached_property
    def policies(self) -> Policies:
        """Published policies: the one in force and a shadow candidate."""
        from tether.policy import Policies

        return Policies(self, self.settings.cache_seconds)

    @cached_property
    def pipeline(self) -> Pipeline:
        """The decision pipeline every governed action goes through."""
        from tether.pipeline import Pipeline

        return Pipeline(self)

    @cached_property
    def approvals(self) -> Approvals:
        """Human approvals: pending, approved, rejected, escalated, expired, overridden."""
        from tether.approvals import Approvals

        return Approvals(self)

    @cached_property
    def breakers(self) -> Breakers:
        """Circuit breakers and kill switches, shared by every process."""
        from tether.pipeline import Breakers

        return Breakers(self)

    @cached_property
    def feedback(self) -> Feedback:
        """Delayed labels joined to decisions, and per-window performance."""
        from tether.monitoring import Feedback

        return Feedback(self)

    @cached_property
    def models(self) -> Models:
        """Model versions and aliases: register, promote, roll back, history."""
        from tether.registry import Models

        return Models(self)

    @cached_property
    def gates(self) -> Gates:
        """Model gates: gate sets, gate runs and the checks a promotion must pass."""
        from tether.registry import Gates

        return Gates(self)

    @cached_property
    def review(self) -> Review:
        """Human-review mode: systems whose every decision waits for a person."""
        from tether.registry import Review

        return Review(self)

    @cached_property
    def responses(self) -> Responses:
        """The closed loop: the policy's responses to signals (rollback, review, ...)."""
        from tether.registry import Responses

        return Responses(self)

    @cached_property
    def monitor(self) -> Monitor:
        """Stored baselines, windows of recorded decisions, drift and anomaly checks."""
        from tether.monitoring import Monitor

        return Monitor(self)

    @cached_property
    def signals(self) -> Signals:
        """Monitoring signals: recorded, shown to policy as ``signals``, sent to sinks."""
        from tether.monitoring import Signals

        return Signals(self)

    @cached_property
    def explanations(self) -> Explanations:
        """Explanations of recorded model decisions, stored with them in the ledger."""
        from tether.explain import Explanations

        return Explanations(self)

    def decide(self, system: str, action: str, **kwargs: Any) -> Decision:
        """Ask the pipeline about one action and record the decision.

        See :meth:`tether.pipeline.Pipeline.decide`.
        """
        return self.pipeline.decide(system, action, **kwargs)

    def governed(
        self, system: str, action: str | None = None, **kwargs: Any
    ) -> Callable[[Callable[..., R]], Callable[..., R]]:
        """Decorate a function so that every call goes through the pipeline.

        See :meth:`tether.pipeline.Pipeline.governed`.
        """
        return self.pipeline.governed(system, action, **kwargs)

    def run(self, workflow: str, **kwargs: Any) -> Run:
        """Start a workflow run or agent session; see :meth:`tether.pipeline.Pipeline.run`."""
        return self.pipeline.run(workflow, **kwargs)

    # -- lifecycle ------------------------------------------------------------------

    @classmethod
    def init(cls, settings: Settings | None = None, *, clock: Clock | None = None) -> Tether:
        """Create the home, the signing key and the database if missing, then open.

        Running it again on an initialised home changes nothing.

        Raises:
            ConfigurationError: the home cannot be created.
            KeyFileError: an existing key file is corrupt.
        """
        settings = settings or Settings()
        clock = clock or SystemClock()
        _make_home(settings.home)
        key_path = settings.signing_key_path
        # A corrupt key fails here, before any database is created.
        had_key = key_path.exists() and load_signer(key_path, "tether") is not None
        store = open_store(
            settings.resolved_database_url(), busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        try:
            with store.read() as conn:
                meta = repo.get_meta(conn)
            recorded = meta.get("verifier_key")
            if recorded is not None and not had_key:
                raise KeyFileError(
                    f"signing key {key_path} is missing, but this ledger was created with "
                    f"key {recorded.strip()}: restore the key from your backup "
                    "(tether never replaces a ledger's key)"
                )
            if not had_key:
                generate_key(key_path)
            signer = load_signer(key_path, meta.get("origin") or _new_origin())
            if recorded is not None and signer.verifier.vkey != recorded.strip():
                raise KeyFileError(
                    f"the key {key_path} ({signer.verifier.vkey}) is not the key this "
                    f"ledger was created with ({recorded.strip()})"
                )
            initialise(store, signer.verifier, clock)
            settings.public_key_path.write_text(signer.verifier.vkey + "\n", encoding="utf-8")
        finally:
            store.close()
        return cls.open(settings, clock=clock)

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        read_only: bool = False,
    ) -> Tether:
        """Open an initialised tether.

        The ledger's key is the one in the home (the signing key, or with
        ``read_only`` its exported public key): the database alone cannot vouch
        for itself, so a key mismatch is an error.

        Raises:
            StoreError: the database cannot be opened or was never initialised.
            SchemaVersionError: the database is newer than this tether.
            KeyFileError: the key is missing, corrupt, or not the ledger's key.
        """
        settings = settings or Settings()
        clock = clock or SystemClock()
        store = open_store(
            settings.resolved_database_url(),
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            create=False,
        )
        try:
            signer, verifier = _load_keys(settings, store, read_only=read_only)
        except BaseException:
            store.close()
            raise
        ledger = Ledger(
            store,
            verifier,
            signer=signer,
            clock=clock,
            checkpoint_every=settings.checkpoint_every,
            checkpoint_interval=settings.checkpoint_interval,
            durability=Durability(settings.durability).value,
        )
        return cls(settings, store, ledger, clock)

    def close(self) -> None:
        """Flush pending appends and close the database."""
        if "explanations" in self.__dict__:  # its worker still appends: stop it first
            self.explanations.close()
        if "pipeline" in self.__dict__:
            self.pipeline.close()
        if "signals" in self.__dict__:
            self.signals.close()
        self.ledger.close()
        self.store.close()

    def __enter__(self) -> Tether:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _new_origin() -> str:
    return f"tether.local/{secrets.token_hex(8)}"


def _make_home(home: Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create TETHER_HOME {home}: {exc.strerror}; choose a writable folder"
        ) from exc


def _load_keys(
    settings: Settings, store: Store, *, read_only: bool
) -> tuple[Signer | None, Verifier]:
    with store.read() as conn:
        meta = repo.get_meta(conn)
    origin, recorded = meta.get("origin"), meta.get("verifier_key")
    if origin is None or recorded is None:
        raise StoreError(
            f"no ledger in {store.url.render_as_string(hide_password=True)}: run 'tether init'"
        )
    signer: Signer | None = None
    if read_only and not settings.signing_key_path.exists():
        verifier = load_verifier(settings.public_key_path)
    else:
        signer = load_signer(settings.signing_key_path, origin)
        verifier = signer.verifier
    if verifier.vkey != recorded.strip():
        raise KeyFileError(
            f"the key in {settings.home} ({verifier.vkey}) is not the key this ledger was "
            f"created with ({recorded.strip()}): the key or the database was replaced"
        )
    return signer, verifier


def open(
    settings: Settings | None = None, *, clock: Clock | None = None, read_only: bool = False
) -> Tether:
    """Open the tether the environment (``TETHER_*``) or ``settings`` points at.

    Same as :meth:`Tether.open`.

    Raises:
        StoreError: the database cannot be opened or was never initialised.
    """
    return Tether.open(settings, clock=clock, read_only=read_only)
