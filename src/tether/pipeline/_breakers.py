"""Circuit breakers and kill switches, per system, action and agent.

State lives in the database, so every process agrees: the pipeline consults the
breakers of a decision's system, action and agent on every decision (a kill switch
stops the next action everywhere; on SQLite a change is signalled through a small
``<database>-breakers`` file, see :meth:`Breakers._rows`). Failure counting is per
process (consecutive failures and an error-rate window); a trip is shared at once.

An action's breaker opens after ``TETHER_BREAKER_FAILURES`` consecutive failures
or when its error rate in a window reaches ``TETHER_BREAKER_ERROR_RATE``; a system's
or an agent's breaker (spanning many actions) opens on the error rate only.

States: ``closed`` → (failures) → ``open`` → (cool-down) → ``half_open``: one probe
call; success closes, failure reopens. A manual trip (the kill switch) stays open
until a person resets it. Trips and resets are ledger entries with actor and reason.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tether.errors import Conflict, InvalidInput
from tether.store import breaker_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = ["Breakers", "Check", "breaker_keys"]

TETHER_ACTOR = "tether:breakers"
STAT_SECONDS = 0.001  # how long a look at the change signal stays fresh


def breaker_keys(system: str, action: str, agent: str | None) -> tuple[str, ...]:
    """The breakers guarding one action: its system, the action, and the agent."""
    keys = (f"system:{system}", f"action:{system}/{action}")
    return (*keys, f"agent:{agent}") if agent else keys


@dataclass(frozen=True, slots=True)
class Check:
    """What the breakers say about one call."""

    open: repo.BreakerRow | None  # the breaker that blocks it, if any
    probes: tuple[str, ...] = ()  # half-open breakers this call is the probe for


_CLEAR = Check(None)


@dataclass(slots=True)
class _Counter:
    consecutive: int = 0
    window_start: float = 0.0
    calls: int = 0
    failures: int = 0


class Breakers:
    """Trip, reset and consult breakers (``tether.breakers``).

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.actors.register("user:ops", kind="human", roles=["operator"], actor="user:admin")
        >>> t.breakers.trip("agent:refunds-bot", actor="user:ops", reason="looping on refunds")
        >>> t.breakers.state("agent:refunds-bot").state
        'open'
        >>> t.breakers.reset("agent:refunds-bot", actor="user:ops", reason="fixed")
        >>> t.breakers.state("agent:refunds-bot").state
        'closed'
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        s = tether.settings
        self.failures = s.breaker_failures
        self.error_rate = s.breaker_error_rate
        self.window = s.breaker_window
        self.min_calls = s.breaker_min_calls
        self.cooldown = s.breaker_cooldown
        self._counters: dict[str, _Counter] = {}
        self._lock = threading.Lock()
        self._ttl = s.cache_seconds
        self._cache: tuple[tuple[int, ...], float, dict[str, repo.BreakerRow]] | None = None
        self._stat_at = -1.0e18
        url = tether.store.engine.url
        database = url.database or ""
        self._epoch: str | None = (
            database + "-breakers"
            if tether.store.dialect == "sqlite" and database not in ("", ":memory:")
            else None
        )

    # -- people -----------------------------------------------------------------------

    def trip(self, key: str, *, actor: str, reason: str) -> None:
        """Open a breaker by hand (the kill switch): it stays open until reset.

        ``key`` is ``system:NAME``, ``action:SYSTEM/ACTION`` or ``agent:ID``.

        Raises:
            InvalidInput: a malformed key or an empty reason.
        """
        self._person(actor, "trip a breaker", humans_only=False)
        self._set(_check_key(key), "open", manual=True, actor=actor, reason=_reason(reason))

    def reset(self, key: str, *, actor: str, reason: str) -> None:
        """Close a breaker (after a trip, automatic or manual).

        Raises:
            InvalidInput: a malformed key or an empty reason.
        """
        self._person(actor, "reset a breaker", humans_only=True)
        self._set(_check_key(key), "closed", manual=False, actor=actor, reason=_reason(reason))
        with self._lock:
            self._counters.pop(key, None)

    def _person(self, actor: str, what: str, *, humans_only: bool) -> None:
        found = self._t.actors.find(actor)
        if found is None or not found.active:
            raise InvalidInput(f"{actor!r} may not {what}: not a registered, active actor")
        if humans_only and found.kind != "human":
            raise InvalidInput(f"{actor!r} may not {what}: only people may ({found.kind}s never)")

    def state(self, key: str) -> repo.BreakerRow:
        """The stored state of one breaker (``closed`` if it never tripped)."""
        with self._t.store.read() as conn:
            rows = repo.read(conn, [key])
        return rows[0] if rows else repo.BreakerRow(key, "closed", False, None, "", 0, 0.0)

    def list(self) -> list[repo.BreakerRow]:
        """Every breaker that ever tripped, by key."""
        with self._t.store.read() as conn:
            return repo.read_all(conn)

    # -- the pipeline -------------------------------------------------------------------

    def check(self, keys: Sequence[str]) -> Check:
        """Whether a call guarded by ``keys`` may go ahead now."""
        rows = self._rows(keys)
        if not rows:
            return _CLEAR
        now = self._t.clock.now().timestamp()
        probes: list[str] = []
        for row in rows:
            if row.state == "closed":
                continue
            due = (
                row.state == "open"
                and row.opened_at is not None
                and now - row.opened_at >= self.cooldown
            ) or (
                row.state == "half_open" and now - row.updated_at >= self.cooldown
            )  # fmt: skip  (a probe nobody settled within the cool-down is given again)
            if due and not row.manual:
                with self._t.store.write() as conn:
                    won = repo.take_probe(conn, row.key, row.generation, now)
                self._changed()
                if won:
                    probes.append(row.key)
                    continue
            return Check(row, tuple(probes))
        return Check(None, tuple(probes))

    def record(self, keys: Iterable[str], *, ok: bool, probes: Sequence[str] = ()) -> None:
        """Count one call's result; trip or close breakers as the counts say."""
        now = self._t.clock.now().timestamp()
        for key in keys:
            if key in probes:
                state, how = ("closed", "succeeded") if ok else ("open", "failed")
                why = f"the half-open probe call {how}"
                self._set(key, state, manual=False, actor=TETHER_ACTOR, reason=why,
                          only_if="half_open")  # fmt: skip
                with self._lock:
                    self._counters.pop(key, None)
                continue
            why = self._count(key, ok, now)
            if why:
                self._set(key, "open", manual=False, actor=TETHER_ACTOR, reason=why,
                          only_if="automatic")  # fmt: skip

    def _count(self, key: str, ok: bool, now: float) -> str:
        with self._lock:
            c = self._counters.get(key)
            if c is None:
                if ok:
                    return ""  # the common case: nothing to remember
                c = self._counters[key] = _Counter(window_start=now)
            if now - c.window_start > self.window:
                c.window_start, c.calls, c.failures = now, 0, 0
            c.calls += 1
            if ok:
                c.consecutive = 0
                return ""
            c.consecutive += 1
            c.failures += 1
            # An action trips on consecutive failures; a system or an agent, which
            # spans many actions, only on its error rate (one flaky tool stops that
            # tool, not the whole system).
            if key.startswith("action:") and c.consecutive >= self.failures:
                why = f"{c.consecutive} consecutive failures"
            elif c.calls >= self.min_calls and c.failures / c.calls >= self.error_rate:
                why = f"{c.failures} of {c.calls} calls failed in {self.window:g} s"
            else:
                return ""
            self._counters.pop(key, None)
            return why

    def _set(
        self, key: str, state: str, *, manual: bool, actor: str, reason: str,
        only_if: str | None = None,
    ) -> None:  # fmt: skip
        now = self._t.clock.now().timestamp()
        kind = "breaker.tripped" if state == "open" else "breaker.reset"
        mutation = repo.set_state(key, state, manual=manual, reason=reason, now=now,
                                  only_if=only_if)  # fmt: skip
        try:
            entry = self._t.ledger.append(
                kind, actor, {"breaker": key, "state": state, "manual": manual, "reason": reason},
                subject=f"breaker/{key}", mutation=mutation,
            )  # fmt: skip
            if state == "open" and not manual:
                self._t.responses.on_breaker(key, reason, entry.index)
        except Conflict:
            if only_if is None:
                raise
            # a person tripped it meanwhile, or another process settled the probe
        finally:
            self._changed()

    def release(self, probes: Sequence[str]) -> None:
        """Give back probes whose call did not run (denied, blocked, waiting): the
        breaker returns to open, and the next call after the cool-down probes again."""
        if not probes:
            return
        with self._t.store.write() as conn:
            for key in probes:
                repo.release_probe(conn, key)
        self._changed()

    # -- reading fast -----------------------------------------------------------------------

    def _rows(self, keys: Sequence[str]) -> builtins.list[repo.BreakerRow]:
        """The stored breakers among ``keys``.

        On a SQLite file, every process touches ``<database>-breakers`` after changing
        a breaker; a reader reloads the (small) table only when that file changed or
        ``TETHER_CACHE_SECONDS`` passed, which turns a read per decision (~20-90 µs
        right after a commit) into a ``stat`` (~1 µs). Elsewhere it reads every time.
        """
        if self._epoch is None:
            return repo.read_hot(self._t.store.hot, keys)
        now = time.monotonic()
        cache = self._cache
        if cache is not None and now - self._stat_at < STAT_SECONDS:
            table = cache[2]  # looked at the signal less than a millisecond ago
            return [table[k] for k in keys if k in table] if table else []
        try:
            st = os.stat(self._epoch)
            seen: tuple[int, ...] = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            seen = (0, 0, 0)
        self._stat_at = now
        if cache is None or cache[0] != seen or now - cache[1] >= self._ttl:
            with self._t.store.read() as conn:
                table = {row.key: row for row in repo.read_all(conn)}
            cache = self._cache = (seen, now, table)
        table = cache[2]
        return [table[k] for k in keys if k in table] if table else []

    def _changed(self) -> None:
        """Tell every process (and this one) that the breakers changed."""
        self._cache = None
        if self._epoch is None:
            return
        # On failure the TTL still bounds how stale other processes get.
        with contextlib.suppress(OSError), open(self._epoch, "ab") as f:
            if f.tell() > 4096:
                f.truncate(0)
            f.write(b".")


def _check_key(key: str) -> str:
    scope, _, target = key.partition(":")
    if scope not in ("system", "action", "agent") or not target:
        raise InvalidInput(f"breaker {key!r}: write system:NAME, action:SYSTEM/ACTION or agent:ID")
    return key


def _reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("a breaker trip or reset needs a reason (it goes in the ledger)")
    return reason
