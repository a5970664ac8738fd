"""The whole pipeline on W1, for ``bench/decide.py``: how to run it, not how to report it.

Each W1 request goes through ``t.decide(...)``: identify the actor, read the breakers,
evaluate the published W1 policy, run the input guardrails (a PII scan and a range
check), open an approval when the verdict is ``require_approval``, and write one ledger
record. This module sets up the tethers and the bare-SQLite anchor, checks the
decisions against ``w1.reference`` and runs the timed loops; ``decide.py`` computes the
statistics, alternates the rounds and prints the tables.

The setup:

- one actor per W1 role, plus a suspended twin of each (``agent:<role>`` and
  ``agent:<role>-suspended``, with the attributes ``role`` and ``suspended`` the policy
  reads), registered before the policy is published;
- ``examples/w1/policy.yaml`` published as the enforced policy (system
  ``agent-platform``, registered by the publication);
- input guardrails ``Pii([Email(), Phone(), PaymentCard(block), Iban(block),
  UsSsn(block)])`` and ``Range("amount", 0..20,000, required=False)``: the PII scan
  redacts the recipient of every ``send_email`` before it is recorded;
- two tethers, each in its own home: ``durable`` (the default: ``decide`` returns
  after the record's commit, one fsync, shared with concurrent callers by group
  commit) and ``async`` (``Settings(durability="async")``: the record is queued for
  the background writer and ``decide`` returns at once).

The anchor is the one of ``bench/ledger.py``: Python's ``sqlite3`` on a WAL database
with ``synchronous=FULL``, ``BEGIN IMMEDIATE; INSERT; COMMIT`` per row, in the same
directory as the tethers. Its rows are the bytes tether itself stored for the
decision record of the same request (entry, leaf hash, payload), read back after the
check pass: a row of the same size, for every request.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ledger import BatchCounter, SqliteAnchor, _run_threads
from tether import Settings, Tether
from tether.errors import ActionDenied
from tether.pipeline.guardrails import Email, Iban, PaymentCard, Phone, Pii, Range, UsSsn
from tether.policy import Policy

INTERNAL_ERROR = "tether:internal-error"
STAGES = ("identify", "breaker", "policy", "input_guardrails", "approval", "record")


@dataclass(frozen=True, slots=True)
class Call:
    """One W1 request as the pipeline's arguments (built once, outside the timing)."""

    action: str
    actor: str
    args: dict[str, Any]
    context: dict[str, Any]


@dataclass
class Timed:
    """One timed round of one tether: ns per call, stage latencies and outcomes."""

    samples: list[int]
    stages: list[Mapping[str, int]] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)


def actor_id(request: Mapping[str, Any]) -> str:
    actor = request["actor"]
    return f"agent:{actor['role']}" + ("-suspended" if actor["suspended"] else "")


def guardrails() -> list[Any]:
    """The input guardrails every decision runs (see the module docstring)."""
    pii = Pii(
        [
            Email(),
            Phone(),
            PaymentCard(action="block"),
            Iban(action="block"),
            UsSsn(action="block"),
        ]
    )
    return [pii, Range("amount", min=0, max=20_000, required=False)]


def describe_guardrails() -> list[str]:
    return [
        "Pii([Email(), Phone(), PaymentCard(action='block'), Iban(action='block'), "
        "UsSsn(action='block')])",
        "Range('amount', min=0, max=20_000, required=False)",
    ]


class PipelineBench:
    """The tethers (durable and async), the anchor and the W1 calls."""

    def __init__(self, workdir: Path, w1: ModuleType, requests: Sequence[dict[str, Any]]) -> None:
        self.workdir = workdir
        self.w1 = w1
        self.system: str = w1.SYSTEM
        self.calls = [
            Call(r["action"]["name"], actor_id(r), r["action"]["args"], r["context"])
            for r in requests
        ]
        self.guards = guardrails()
        self.tethers = {
            "durable": self._open(workdir / "durable", "durable"),
            "async": self._open(workdir / "async", "async"),
        }
        self.counters = {name: BatchCounter(t) for name, t in self.tethers.items()}
        self.anchor = SqliteAnchor(workdir / "anchor.db")
        self.rows: list[tuple[bytes, bytes, bytes]] = []  # tether's bytes, per request
        self.payloads: list[Any] = []  # the decision records' payloads, per request
        self._idx = 0

    def _open(self, home: Path, durability: str) -> Tether:
        t = Tether.init(Settings(home=home, durability=durability))
        for role in self.w1.ROLE_TOOLS:
            for suspended in (False, True):
                t.actors.register(
                    f"agent:{role}" + ("-suspended" if suspended else ""),
                    kind="agent",
                    roles=[role],
                    attributes={"role": role, "suspended": suspended},
                    actor="admin",
                )
        t.policies.publish(Policy.from_file(self.w1.POLICY), actor="admin")
        return t

    # -- the calls ----------------------------------------------------------------------

    def decide_fn(self, which: str) -> Callable[[Call], Any]:
        decide = self.tethers[which].decide
        system, guards = self.system, self.guards

        def call(c: Call) -> Any:
            return decide(
                system,
                c.action,
                actor=c.actor,
                inputs=c.args,
                context=c.context,
                input_guardrails=guards,
            )

        return call

    # -- the check (and the anchor's rows) ----------------------------------------------

    def check(self, effects: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Every request once through each tether: effects against the reference, the
        outcome mix, internal errors. Also reads back the durable tether's decision
        records: the anchor's rows."""
        out: dict[str, dict[str, Any]] = {}
        indices: list[int] = []
        for which, t in self.tethers.items():
            call = self.decide_fn(which)
            bad: list[dict[str, Any]] = []
            outcomes: Counter[str] = Counter()
            internal = 0
            guard: Counter[str] = Counter()
            for i, (c, want) in enumerate(zip(self.calls, effects, strict=True)):
                d = call(c)
                outcomes[d.outcome] += 1
                internal += INTERNAL_ERROR in d.rules
                for g in d.guardrails:
                    guard[f"{g.guardrail}: {g.outcome}"] += 1
                if d.effect != want:
                    bad.append(
                        {
                            "request": i,
                            "got": [d.effect, d.outcome, list(d.rules)],
                            "reference": want,
                        }
                    )
                if which == "durable":
                    indices.append(d.ledger_index)
            t.ledger.flush()
            out[which] = {
                "requests": len(self.calls),
                "effect_mismatches": len(bad),
                "internal_errors": internal,
                "outcomes": dict(outcomes),
                "guardrail_results": dict(guard),
                "first_mismatches": bad[:10],
                "passed": not bad and not internal,
            }
        self.rows = self._read_rows(indices)
        self.payloads = [json.loads(payload) for _, _, payload in self.rows]
        return out

    def _read_rows(self, indices: Sequence[int]) -> list[tuple[bytes, bytes, bytes]]:
        db = self.tethers["durable"].settings.home / "tether.db"
        conn = sqlite3.connect(db)
        try:
            sql = "SELECT entry, leaf, payload FROM ledger_entries WHERE idx = ?"
            return [tuple(conn.execute(sql, (i,)).fetchone()) for i in indices]
        finally:
            conn.close()

    def row_sizes(self) -> dict[str, float]:
        entry = [len(e) for e, _, _ in self.rows]
        payload = [len(p) for _, _, p in self.rows]
        return {
            "entry_mean_bytes": sum(entry) / len(entry),
            "payload_mean_bytes": sum(payload) / len(payload),
            "payload_min_bytes": min(payload),
            "payload_max_bytes": max(payload),
        }

    # -- one caller -----------------------------------------------------------------------

    def time_tether(self, which: str, n: int, warmup: int) -> Timed:
        """``n`` decisions (request ``i % count``), each timed; gc off while timing."""
        call = self.decide_fn(which)
        calls, count = self.calls, len(self.calls)
        for i in range(warmup):
            call(calls[i % count])
        t = self.tethers[which]
        t.ledger.flush()
        out = Timed([0] * n, [{}] * n, [""] * n)
        clock = time.perf_counter_ns
        gc.collect()
        gc.disable()
        try:
            for i in range(n):
                c = calls[i % count]
                t0 = clock()
                d = call(c)
                out.samples[i] = clock() - t0
                out.stages[i] = d.latency_us
                out.outcomes[i] = d.outcome
        finally:
            gc.enable()
        t.ledger.flush()  # async: let the writer catch up before the next engine runs
        return out

    def time_ledger(self, n: int, warmup: int) -> list[int]:
        """``n`` bare durable ``t.ledger.append`` of request ``i``'s decision record (the
        payload the pipeline wrote for it, same kind, actor and subject): the record
        stage without the pipeline (what ``bench/ledger.py`` measures, W2)."""
        append = self.tethers["durable"].ledger.append
        calls, payloads, count = self.calls, self.payloads, len(self.payloads)
        subjects = [f"system/{self.system}/action/{c.action}" for c in calls]
        for i in range(warmup):
            append("decision", calls[i].actor, payloads[i], subject=subjects[i])
        samples = [0] * n
        clock = time.perf_counter_ns
        gc.collect()
        gc.disable()
        try:
            for i in range(n):
                k = i % count
                t0 = clock()
                append("decision", calls[k].actor, payloads[k], subject=subjects[k])
                samples[i] = clock() - t0
        finally:
            gc.enable()
        return samples

    def _anchor_rows(self, start: int, n: int) -> list[tuple[int, bytes, bytes, bytes]]:
        count = len(self.rows)
        rows = []
        for i in range(start, start + n):
            self._idx += 1
            rows.append((self._idx, *self.rows[i % count]))
        return rows

    def time_anchor(self, n: int, warmup: int) -> list[int]:
        """``n`` bare ``BEGIN IMMEDIATE; INSERT; COMMIT``, row ``i`` = request ``i``'s."""
        insert = self.anchor.insert_commit
        for row in self._anchor_rows(0, warmup):
            insert(row)
        rows = self._anchor_rows(0, n)
        samples = [0] * n
        clock = time.perf_counter_ns
        gc.collect()
        gc.disable()
        try:
            for i, row in enumerate(rows):
                t0 = clock()
                insert(row)
                samples[i] = clock() - t0
        finally:
            gc.enable()
        return samples

    def cold_probe(self, requests: Sequence[dict[str, Any]], n: int) -> dict[str, list[int]]:
        """The policy step and the breaker read timed alone, in a hot loop and right
        after a bare fsync-ing commit (what a stage sees after the caller slept)."""
        t = self.tethers["durable"]
        published = t.policies.enforced()
        assert published is not None
        evaluate, check = published.policy.evaluate, t.breakers.check
        keys = (f"system:{self.system}", f"action:{self.system}/search_kb", "agent:probe")
        count = len(requests)
        rows = self._anchor_rows(0, n)
        clock = time.perf_counter_ns
        out: dict[str, list[int]] = {}
        for label, before in (("hot", None), ("after_commit", self.anchor.insert_commit)):
            ev, br = [0] * n, [0] * n
            gc.collect()
            gc.disable()
            try:
                for i in range(n):
                    if before is not None:
                        before(rows[i])
                    request = requests[i % count]
                    t0 = clock()
                    evaluate(request)
                    t1 = clock()
                    check(keys)
                    br[i] = clock() - t1
                    ev[i] = t1 - t0
            finally:
                gc.enable()
            out[f"evaluate_{label}"] = ev
            out[f"breaker_{label}"] = br
        return out

    # -- many callers ---------------------------------------------------------------------

    def _share(self, picked: Sequence[int], callers: int, per_caller: int, offset: int) -> Any:
        total = callers * per_caller
        order = [picked[(offset + j) % len(picked)] for j in range(total)]
        return order, [order[i::callers] for i in range(callers)]

    def threads(
        self, picked: Sequence[int], callers: int, per_caller: int, offset: int
    ) -> dict[str, Any]:
        """``callers`` threads started together, each calling ``t.decide`` (durable)."""
        _, chunks = self._share(picked, callers, per_caller, offset)
        call = self.decide_fn("durable")
        calls = self.calls
        seen: list[Counter[str]] = [Counter() for _ in range(callers)]

        def work(i: int) -> None:
            tally = seen[i]
            for k in chunks[i]:
                tally[call(calls[k]).outcome] += 1

        counter = self.counters["durable"]
        counter.take()
        seconds = _run_threads(callers, work)
        batches, rows = counter.take()
        return _rate(callers * per_caller, seconds, batches, rows, seen)

    def tasks(
        self, picked: Sequence[int], callers: int, per_caller: int, offset: int
    ) -> dict[str, Any]:
        """``callers`` asyncio tasks, each awaiting ``pipeline.execute_async`` around a
        trivial coroutine (durable); denials raise and are counted."""
        _, chunks = self._share(picked, callers, per_caller, offset)
        t = self.tethers["durable"]
        execute = t.pipeline.execute_async
        system, guards, calls = self.system, self.guards, self.calls
        seen: list[Counter[str]] = [Counter() for _ in range(callers)]

        async def tool(**kwargs: Any) -> None:
            return None

        async def task(i: int) -> None:
            tally = seen[i]
            for k in chunks[i]:
                c = calls[k]
                try:
                    d = await execute(
                        tool,
                        (),
                        c.args,
                        system=system,
                        action=c.action,
                        actor=c.actor,
                        inputs=c.args,
                        context=c.context,
                        input_guardrails=guards,
                    )
                    tally[d.outcome] += 1
                except ActionDenied as exc:
                    tally[getattr(exc.decision, "outcome", type(exc).__name__)] += 1

        async def main() -> float:
            t0 = time.perf_counter()
            await asyncio.gather(*(task(i) for i in range(callers)))
            return time.perf_counter() - t0

        counter = self.counters["durable"]
        counter.take()
        seconds = asyncio.run(main())
        batches, rows = counter.take()
        return _rate(callers * per_caller, seconds, batches, rows, seen)

    def decide_tasks(
        self, picked: Sequence[int], callers: int, per_caller: int, offset: int
    ) -> dict[str, Any]:
        """``callers`` asyncio tasks, each awaiting ``pipeline.decide_async`` (durable)
        where this tether has it (``{}`` otherwise: see ``has_decide_async``)."""
        t = self.tethers["durable"]
        decide = getattr(t.pipeline, "decide_async", None)
        if decide is None:
            return {}
        _, chunks = self._share(picked, callers, per_caller, offset)
        system, guards, calls = self.system, self.guards, self.calls
        seen: list[Counter[str]] = [Counter() for _ in range(callers)]

        async def task(i: int) -> None:
            tally = seen[i]
            for k in chunks[i]:
                c = calls[k]
                d = await decide(
                    system,
                    c.action,
                    actor=c.actor,
                    inputs=c.args,
                    context=c.context,
                    input_guardrails=guards,
                )
                tally[d.outcome] += 1

        async def main() -> float:
            t0 = time.perf_counter()
            await asyncio.gather(*(task(i) for i in range(callers)))
            return time.perf_counter() - t0

        counter = self.counters["durable"]
        counter.take()
        seconds = asyncio.run(main())
        batches, rows = counter.take()
        return _rate(callers * per_caller, seconds, batches, rows, seen)

    def has_decide_async(self) -> bool:
        return hasattr(self.tethers["durable"].pipeline, "decide_async")

    def anchor_batch(self, picked: Sequence[int], total: int, offset: int) -> float:
        """Rows/s of one ``executemany`` of the same requests' rows in one transaction."""
        order = [picked[(offset + j) % len(picked)] for j in range(total)]
        rows = []
        for k in order:
            self._idx += 1
            rows.append((self._idx, *self.rows[k]))
        t0 = time.perf_counter()
        self.anchor.insert_many(rows)
        return total / (time.perf_counter() - t0)

    def close(self) -> None:
        for t in self.tethers.values():
            t.close()
        self.anchor.close()


def _rate(
    total: int, seconds: float, batches: int, rows: int, seen: Sequence[Counter[str]]
) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    for tally in seen:
        outcomes.update(tally)
    return {
        "decisions": total,
        "seconds": seconds,
        "rate": total / seconds,
        "batches": batches,
        "ledger_rows": rows,
        "mean_batch": rows / batches if batches else None,
        "outcomes": dict(outcomes),
    }
