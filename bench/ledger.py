"""Ledger benchmark (W2): tether's ledger measured side by side against the physical limits.

Every figure is taken in the same run as its anchor, alternating rounds of anchor and
tether, and compared as a ratio (the machine is small and noisy; ratios travel, absolute
figures do not). The anchors are bare database code writing or reading *the same bytes*
in the same directory (SQLite) or the same server (PostgreSQL):

1. durable append, one caller: ``Ledger.append`` latency vs one ``INSERT`` + ``COMMIT``
   per row (SQLite: WAL, ``synchronous=FULL``; PostgreSQL: psycopg, default fsync).
   Target: ratio <= 1.5.
2. durable append, 32 threads (group commit): throughput vs one ``executemany`` of the
   same rows in one transaction. Target: >= 25 %.
3. ``verify_ledger`` over N entries (default 1,000,000), in a fresh subprocess: seconds and
   peak RSS growth of that process and its worker processes (sampled from /proc, see
   ``MEMORY_METHOD``; ``ru_maxrss`` is recorded but misleading in a child). Target: <= 3 s,
   <= 200 MB. The anchor is a bare scan that reads every row and hashes it once.
4. ``inclusion_proof(index, size)`` and ``receipt(index)`` at N entries, random seeded
   indices. Target: proof median <= 1 ms. The anchor runs the same two ``IN`` queries
   with the bare driver.

Run ``python bench/ledger.py --help``; results go to ``bench/results/``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import gc
import hashlib
import io
import json
import math
import os
import platform
import pstats
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from decide_agt import load_w1
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tether import Settings, Tether
from tether.clock import format_timestamp
from tether.ledger import canonical_json, verify_ledger
from tether.ledger._entry import encode_entry, payload_digest
from tether.ledger._group import GroupCommit
from tether.ledger._merkle import (
    inclusion_ranges,
    leaf_hash,
    node_key,
    subtree_parts,
    verify_inclusion,
)

RESULTS = Path(__file__).resolve().parent / "results"
PG_ENV = "TETHER_BENCH_POSTGRES_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SEED = 20260101
KIND = "decision"

# -- targets (issue W2) -----------------------------------------------------------------
TARGET_APPEND_RATIO = 1.5  # tether latency / bare INSERT+COMMIT latency
TARGET_GROUP_SHARE = 0.25  # tether 32-thread throughput / bare executemany rate
TARGET_VERIFY_S = 3.0  # seconds for 1,000,000 entries
TARGET_VERIFY_MB = 200.0  # peak RSS growth
TARGET_PROOF_MS = 1.0  # median inclusion proof at 1,000,000 entries


# =======================================================================================
# Payloads: seeded decision records (the W1 policy scenario: agents calling tools)
# =======================================================================================

# The W1 roles, tools and services are examples/w1's (one definition of the scenario).
_W1 = load_w1()
ROLE_TOOLS: dict[str, list[str]] = _W1.ROLE_TOOLS
ALL_TOOLS: list[str] = _W1.ALL_TOOLS
SERVICES: list[str] = _W1.SERVICES
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1"]


@dataclass(frozen=True, slots=True)
class Item:
    """One append: what a caller passes to ``Ledger.append``."""

    kind: str
    actor: str
    subject: str
    payload: dict[str, Any]


class DecisionGenerator:
    """Seeded, realistic policy-decision records (~500 bytes of canonical JSON).

    ``integer_only`` writes amounts in cents and scores in basis points: no JSON float,
    which keeps ``canonical_json`` on its orjson fast path (floats go to ``rfc8785``).
    """

    def __init__(self, seed: int = SEED, *, integer_only: bool = False) -> None:
        self.rng = random.Random(seed)
        self.integer_only = integer_only
        self.n = 0

    def __iter__(self) -> Iterator[Item]:
        return self

    def __next__(self) -> Item:
        return self.next()

    def take(self, count: int) -> list[Item]:
        return [self.next() for _ in range(count)]

    def next(self) -> Item:
        rng = self.rng
        self.n += 1
        role = rng.choice(list(ROLE_TOOLS))
        own = ROLE_TOOLS[role]
        tool = rng.choice(own) if own and rng.random() < 0.7 else rng.choice(ALL_TOOLS)
        amount = round(math.exp(rng.gauss(6.5, 1.5)) % 20000, 2)
        risk = round(rng.random(), 2)
        hour = rng.randrange(24)
        env = rng.choice(["prod", "prod", "staging", "dev"])
        domain = rng.choice(["example.com", "example.com", "other.org"])
        pii = rng.random() < 0.3
        replicas = rng.randint(1, 80)
        rows = rng.randint(10, 1_000_000)
        suspended = rng.random() < 0.02
        agent = f"agent-{rng.randrange(1, 400):04d}"
        service = rng.choice(SERVICES)

        args: dict[str, Any]
        if tool in ("create_refund", "issue_payment", "read_invoice"):
            args = {
                "amount": amount,
                "currency": "EUR",
                "customer_id": f"cus_{rng.getrandbits(48):012x}",
                "invoice_id": f"inv_{rng.getrandbits(40):010x}",
            }
        elif tool == "send_email":
            args = {
                "to": f"user{rng.randrange(10_000)}@{domain}",
                "template": rng.choice(["refund_update", "ticket_reply", "outage_notice"]),
            }
        elif tool == "scale_service":
            args = {"service": service, "replicas": replicas}
        elif tool == "run_query":
            args = {"query_digest": f"{rng.getrandbits(64):016x}", "rows_estimate": rows}
        elif tool == "export_report":
            args = {"report": rng.choice(["churn", "mrr", "tickets"]), "contains_pii": pii}
        elif tool in ("deploy", "restart_service"):
            args = {"service": service, "version": f"1.{rng.randrange(40)}.{rng.randrange(9)}"}
        else:
            args = {"id": f"{tool[:3]}_{rng.getrandbits(40):010x}"}

        outcome, matched = _w1_outcome(
            role, tool, amount, risk, hour, env, domain, pii, replicas, rows, suspended
        )
        reasons = {
            "deny": "denied by policy",
            "require_approval": "approval required",
            "allow": "permitted",
        }
        payload: dict[str, Any] = {
            "decision_id": f"dec_{rng.getrandbits(80):020x}",
            "request": {
                "agent": {"id": agent, "role": role, "suspended": suspended},
                "tool": tool,
                "args": args,
                "context": {
                    "env": env,
                    "region": rng.choice(REGIONS),
                    "hour": hour,
                    "risk_score": risk,
                    "trace_id": f"{rng.getrandbits(128):032x}",
                },
            },
            "outcome": outcome,
            "matched_rules": matched,
            "reason": f"{reasons[outcome]}: {', '.join(matched) or 'no permit rule matched'}",
            "policy": {"bundle": "w1-rbac", "version": 7, "engine": "cel", "eval_us": 22},
        }
        if self.integer_only:
            if "amount" in args:
                args["amount"] = round(amount * 100)
            payload["request"]["context"]["risk_score"] = round(risk * 10_000)
        return Item(
            KIND,
            f"svc:policy-gateway/{agent}",
            f"agent/{agent}/tool/{tool}/decision/{payload['decision_id']}",
            payload,
        )


def _w1_outcome(
    role: str,
    tool: str,
    amount: float,
    risk: float,
    hour: int,
    env: str,
    domain: str,
    pii: bool,
    replicas: int,
    rows: int,
    suspended: bool,
) -> tuple[str, list[str]]:
    """The W1 rules (reference benchmarks.md): deny > approval > allow, default deny."""
    deny = [
        name
        for name, hit in (
            ("D1", tool in ("drop_table", "delete_customer")),
            ("D2", suspended),
            ("D3", tool == "create_refund" and amount > 10000),
            ("D4", tool == "issue_payment" and env == "prod" and (hour < 8 or hour >= 18)),
            ("D5", risk > 0.95),
            ("D6", tool == "deploy" and env == "prod" and (hour < 9 or hour >= 17)),
            ("D7", tool == "scale_service" and replicas > 50),
        )
        if hit
    ]
    permit = role == "admin" or tool in ROLE_TOOLS.get(role, [])
    if deny or not permit:
        return "deny", deny
    approve = [
        name
        for name, hit in (
            ("A1", tool == "create_refund" and amount > 1000),
            ("A2", tool == "issue_payment" and amount > 500),
            ("A3", risk > 0.8),
            ("A4", tool == "deploy" and env == "prod"),
            ("A5", tool == "send_email" and domain != "example.com"),
            ("A6", tool == "export_report" and pii),
            ("A7", tool == "restart_service" and env == "prod"),
            ("A8", tool == "run_query" and env == "prod" and rows > 100_000),
        )
        if hit
    ]
    return ("require_approval", approve) if approve else ("allow", ["P:" + role])


Row = tuple[int, bytes, bytes, bytes]  # (idx, entry, leaf, payload), as tether stores them


def anchor_row(idx: int, item: Item, stamp: str) -> Row:
    """The bytes tether would store for ``item`` at ``idx`` (computed outside the timing)."""
    body = canonical_json(item.payload)
    raw = encode_entry(idx, stamp, item.kind, item.actor, item.subject, payload_digest(body))
    return (idx, raw, leaf_hash(raw), body)


def now_stamp() -> str:
    return format_timestamp(dt.datetime.now(dt.UTC))


# =======================================================================================
# Statistics
# =======================================================================================


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary_us(samples_ns: Sequence[int]) -> dict[str, float]:
    us = [s / 1000 for s in samples_ns]
    return {
        "n": len(us),
        "median_us": statistics.median(us),
        "p99_us": pct(us, 99),
        "mean_us": statistics.fmean(us),
        "min_us": min(us),
    }


# =======================================================================================
# Backends: SQLite and PostgreSQL, each with a bare-driver anchor
# =======================================================================================

_ANCHOR_DDL = (
    "CREATE TABLE bench_anchor (idx {int} PRIMARY KEY, entry {blob} NOT NULL, "
    "leaf {blob} NOT NULL, payload {blob}, erased_by {int})"
)


class Backend:
    """A database to run tether and its anchor on."""

    name = ""

    def settings(self, home: Path, purpose: str) -> Settings:
        raise NotImplementedError

    def anchor(self) -> Anchor:
        raise NotImplementedError

    def scan_args(self, settings: Settings) -> list[str]:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class Anchor:
    """Bare-driver writes and reads of the same bytes tether writes."""

    insert_sql = "INSERT INTO bench_anchor (idx, entry, leaf, payload, erased_by) VALUES "

    def insert_commit(self, row: Row) -> None:
        raise NotImplementedError

    def insert_many(self, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def threaded_connection(self) -> Callable[[Row], None]:
        """A new connection doing ``insert_commit`` (for the naive 32-thread anchor)."""
        raise NotImplementedError

    def proof_reader(self, settings: Settings) -> Callable[[list[int], list[int]], int]:
        """Run the two ``IN`` queries an inclusion proof needs on tether's own tables."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def settings(self, home: Path, purpose: str) -> Settings:
        return Settings(
            home=home, database_url=f"sqlite:///{home / 'tether.db'}", checkpoint_every=1000
        )

    def anchor(self) -> Anchor:
        return SqliteAnchor(self.workdir / f"anchor-{uuid.uuid4().hex[:8]}.db")

    def scan_args(self, settings: Settings) -> list[str]:
        return ["--_sqlite-path", str(settings.home / "tether.db")]

    def info(self) -> dict[str, Any]:
        return {
            "sqlite_version": sqlite3.sqlite_version,
            "dir": str(self.workdir),
            "filesystem": _filesystem(self.workdir),
        }


class SqliteAnchor(Anchor):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = self._connect()
        self.conn.execute(_ANCHOR_DDL.format(int="INTEGER", blob="BLOB"))

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def insert_commit(self, row: Row) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(self.insert_sql + "(?, ?, ?, ?, NULL)", row)
        conn.execute("COMMIT")

    def insert_many(self, rows: Sequence[Row]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(self.insert_sql + "(?, ?, ?, ?, NULL)", rows)
        conn.execute("COMMIT")

    def threaded_connection(self) -> Callable[[Row], None]:
        conn = self._connect()
        sql = self.insert_sql + "(?, ?, ?, ?, NULL)"

        def insert(row: Row) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(sql, row)
            conn.execute("COMMIT")

        return insert

    def proof_reader(self, settings: Settings) -> Callable[[list[int], list[int]], int]:
        conn = sqlite3.connect(settings.home / "tether.db", isolation_level=None)

        def read(leaves: list[int], keys: list[int]) -> int:
            got = 0
            for sql, wanted in (
                ("SELECT idx, leaf FROM ledger_entries WHERE idx IN ({})", leaves),
                ("SELECT key, hash FROM ledger_nodes WHERE key IN ({})", keys),
            ):
                if wanted:
                    marks = ",".join("?" * len(wanted))
                    got += len(conn.execute(sql.format(marks), wanted).fetchall())
            return got

        return read

    def close(self) -> None:
        self.conn.close()


class PostgresBackend(Backend):
    """Each tether gets its own schema (dropped at the end); the anchor gets another."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        from sqlalchemy import make_url

        self.url = make_url(url)
        self.schemas: list[str] = []

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self._conninfo(None), autocommit=True)

    def _conninfo(self, schema: str | None) -> str:
        url = self.url.set(drivername="postgresql")
        if schema is not None:
            url = url.update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def _new_schema(self, purpose: str) -> str:
        schema = f"bench_{purpose}_{uuid.uuid4().hex[:8]}"
        with self._admin() as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        self.schemas.append(schema)
        return schema

    def settings(self, home: Path, purpose: str) -> Settings:
        schema = self._new_schema(purpose)
        url = self.url.update_query_dict({"options": f"-csearch_path={schema}"})
        return Settings(
            home=home,
            database_url=url.render_as_string(hide_password=False),
            checkpoint_every=1000,
        )

    def anchor(self) -> Anchor:
        return PostgresAnchor(self._conninfo(self._new_schema("anchor")), self)

    def scan_args(self, settings: Settings) -> list[str]:
        from sqlalchemy import make_url

        url = make_url(settings.database_url).set(drivername="postgresql")
        return ["--_pg-conninfo", url.render_as_string(hide_password=False)]

    def info(self) -> dict[str, Any]:
        with self._admin() as conn:
            out: dict[str, Any] = {"url": self.url.render_as_string(hide_password=True)}
            for name in (
                "server_version",
                "fsync",
                "synchronous_commit",
                "wal_sync_method",
                "shared_buffers",
                "commit_delay",
            ):
                out[name] = conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            return out

    def close(self) -> None:
        with self._admin() as conn:
            for schema in self.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class PostgresAnchor(Anchor):
    def __init__(self, conninfo: str, backend: PostgresBackend) -> None:
        import psycopg

        self.conninfo = conninfo
        self.psycopg = psycopg
        self.conn = psycopg.connect(conninfo)
        self.conn.execute(_ANCHOR_DDL.format(int="BIGINT", blob="BYTEA"))
        self.conn.commit()
        self.others: list[Any] = []

    def insert_commit(self, row: Row) -> None:
        self.conn.execute(self.insert_sql + "(%s, %s, %s, %s, NULL)", row)
        self.conn.commit()

    def insert_many(self, rows: Sequence[Row]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self.insert_sql + "(%s, %s, %s, %s, NULL)", rows)
        self.conn.commit()

    def threaded_connection(self) -> Callable[[Row], None]:
        conn = self.psycopg.connect(self.conninfo)
        self.others.append(conn)
        sql = self.insert_sql + "(%s, %s, %s, %s, NULL)"

        def insert(row: Row) -> None:
            conn.execute(sql, row)
            conn.commit()

        return insert

    def proof_reader(self, settings: Settings) -> Callable[[list[int], list[int]], int]:
        from sqlalchemy import make_url

        url = make_url(settings.database_url).set(drivername="postgresql")
        conn = self.psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        self.others.append(conn)

        def read(leaves: list[int], keys: list[int]) -> int:
            got = 0
            if leaves:
                got += len(
                    conn.execute(
                        "SELECT idx, leaf FROM ledger_entries WHERE idx = ANY(%s)", (leaves,)
                    ).fetchall()
                )
            if keys:
                got += len(
                    conn.execute(
                        "SELECT key, hash FROM ledger_nodes WHERE key = ANY(%s)", (keys,)
                    ).fetchall()
                )
            return got

        return read

    def close(self) -> None:
        for conn in (*self.others, self.conn):
            conn.close()


def _filesystem(path: Path) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["df", "-T", str(path)], capture_output=True, text=True, check=True, timeout=10
        ).stdout.splitlines()
        if len(out) > 1:
            parts = out[1].split()
            return f"{parts[0]} ({parts[1]})"
    return "unknown"


# =======================================================================================
# Results
# =======================================================================================


@dataclass
class Metric:
    backend: str
    name: str
    tether: str
    anchor: str
    ratio: str
    target: str
    passed: bool | None
    data: dict[str, Any] = field(default_factory=dict)


def fmt_us(us: float) -> str:
    return f"{us / 1000:,.2f} ms" if us >= 10_000 else f"{us:,.0f} µs"


# =======================================================================================
# 1. durable append, one caller
# =======================================================================================


def bench_single(
    t: Tether,
    anchor: Anchor,
    gen: DecisionGenerator,
    rounds: int,
    per_round: int,
    warmup: int,
    next_idx: Callable[[], int],
    backend: str,
    log: Console,
) -> list[Metric]:
    ledger = t.ledger
    for item in gen.take(warmup):  # warm both paths: connections, statement caches
        ledger.append(item.kind, item.actor, item.payload, subject=item.subject)
        anchor.insert_commit(anchor_row(next_idx(), item, now_stamp()))
    tether_ns: list[int] = []
    anchor_ns: list[int] = []
    ratios: list[float] = []
    clock = time.perf_counter_ns
    for r in range(rounds):
        items = gen.take(per_round)
        stamp = now_stamp()
        rows = [anchor_row(next_idx(), it, stamp) for it in items]
        t_round: list[int] = []
        a_round: list[int] = []

        def run_tether(items: list[Item] = items, out: list[int] = t_round) -> None:
            for it in items:
                t0 = clock()
                ledger.append(it.kind, it.actor, it.payload, subject=it.subject)
                out.append(clock() - t0)

        def run_anchor(rows: list[Row] = rows, out: list[int] = a_round) -> None:
            for row in rows:
                t0 = clock()
                anchor.insert_commit(row)
                out.append(clock() - t0)

        first, second = (run_anchor, run_tether) if r % 2 == 0 else (run_tether, run_anchor)
        first()
        second()
        ratios.append(statistics.median(t_round) / statistics.median(a_round))
        tether_ns += t_round
        anchor_ns += a_round
        log.print(
            f"  [{backend}] append round {r + 1}/{rounds}: tether "
            f"{statistics.median(t_round) / 1000:.0f} µs, anchor "
            f"{statistics.median(a_round) / 1000:.0f} µs, ratio {ratios[-1]:.2f}"
        )
    ts, an = summary_us(tether_ns), summary_us(anchor_ns)
    ratio = statistics.median(ratios)
    p99_ratio = ts["p99_us"] / an["p99_us"]
    anchor_name = (
        "INSERT+COMMIT (WAL, synchronous=FULL)" if backend == "sqlite" else "INSERT+COMMIT"
    )
    return [
        Metric(
            backend,
            "durable append, 1 caller, median",
            fmt_us(ts["median_us"]),
            fmt_us(an["median_us"]),
            f"{ratio:.2f}x",
            f"≤ {TARGET_APPEND_RATIO}x",
            ratio <= TARGET_APPEND_RATIO,
            {
                "tether": ts,
                "anchor": an,
                "anchor_is": anchor_name,
                "round_ratios": ratios,
                "ratio": ratio,
                "rounds": rounds,
                "per_round": per_round,
            },
        ),
        Metric(
            backend,
            "durable append, 1 caller, p99",
            fmt_us(ts["p99_us"]),
            fmt_us(an["p99_us"]),
            f"{p99_ratio:.2f}x",
            "(info)",
            None,
            {"ratio": p99_ratio},
        ),
    ]


# =======================================================================================
# 2. durable append, 32 threads (group commit)
# =======================================================================================


def _run_threads(n: int, work: Callable[[int], None]) -> float:
    """Run ``work(i)`` on ``n`` threads started together; return the wall time (s)."""
    barrier = threading.Barrier(n + 1)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:  # report, don't hang
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    barrier.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return elapsed


def _run_tasks(ledger: Any, items: Sequence[Item], tasks: int) -> float:
    """Append ``items`` from ``tasks`` asyncio tasks (durable); return the wall time (s)."""
    chunks = [items[i::tasks] for i in range(tasks)]

    async def task(chunk: Sequence[Item]) -> None:
        for it in chunk:
            await ledger.append_async(it.kind, it.actor, it.payload, subject=it.subject)

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(task(c) for c in chunks))
        return time.perf_counter() - t0

    return asyncio.run(main())


class BatchCounter:
    """Counts group-commit transactions by wrapping the batch writer of this one ledger.

    Diagnostics only: it reaches into private attributes (the group commit's writer,
    or the ledger's ``_write``) and counts nothing if neither exists.
    """

    def __init__(self, t: Tether) -> None:
        self.batches = 0
        self.rows = 0
        group = getattr(t.ledger, "_group", None)
        owner: Any = group if group is not None and hasattr(group, "_write") else t.ledger
        inner = getattr(owner, "_write", None)
        self.active = inner is not None
        if inner is None:
            return

        def write(batch: Sequence[Any]) -> Any:
            self.batches += 1
            self.rows += len(batch)
            return inner(batch)

        owner._write = write

    def take(self) -> tuple[int, int]:
        out = (self.batches, self.rows)
        self.batches = self.rows = 0
        return out


def bench_concurrent(
    t: Tether,
    anchor: Anchor,
    gen: DecisionGenerator,
    rounds: int,
    threads: int,
    per_thread: int,
    next_idx: Callable[[], int],
    backend: str,
    log: Console,
    naive: bool,
) -> list[Metric]:
    ledger = t.ledger
    counter = BatchCounter(t)
    total = threads * per_thread
    t_rates: list[float] = []
    a_rates: list[float] = []
    shares: list[float] = []
    batch_sizes: list[float] = []
    k_rates: list[float] = []
    task_shares: list[float] = []
    task_batches: list[float] = []
    for r in range(rounds):
        items = gen.take(total)
        stamp = now_stamp()
        rows = [anchor_row(next_idx(), it, stamp) for it in items]
        chunks = [items[i::threads] for i in range(threads)]

        def work(i: int, chunks: list[list[Item]] = chunks) -> None:
            for it in chunks[i]:
                ledger.append(it.kind, it.actor, it.payload, subject=it.subject)

        def run_tether(work: Callable[[int], None] = work) -> float:
            counter.take()
            rate = total / _run_threads(threads, work)
            batches, appended = counter.take()
            batch_sizes.append(appended / max(batches, 1))
            return rate

        def run_anchor(rows: list[Row] = rows) -> float:
            t0 = time.perf_counter()
            anchor.insert_many(rows)
            return total / (time.perf_counter() - t0)

        task_items = gen.take(total)

        def run_tasks(task_items: list[Item] = task_items) -> float:
            counter.take()
            rate = total / _run_tasks(ledger, task_items, threads)
            batches, appended = counter.take()
            task_batches.append(appended / max(batches, 1))
            return rate

        if r % 2 == 0:
            a_rate, t_rate, k_rate = run_anchor(), run_tether(), run_tasks()
        else:
            k_rate, t_rate, a_rate = run_tasks(), run_tether(), run_anchor()
        t_rates.append(t_rate)
        a_rates.append(a_rate)
        k_rates.append(k_rate)
        shares.append(t_rate / a_rate)
        task_shares.append(k_rate / a_rate)
        log.print(
            f"  [{backend}] {threads} callers round {r + 1}/{rounds}: threads {t_rate:,.0f}/s "
            f"(mean batch {batch_sizes[-1]:.1f}), asyncio tasks {k_rate:,.0f}/s "
            f"(mean batch {task_batches[-1]:.1f}), executemany {a_rate:,.0f}/s: "
            f"{shares[-1]:.1%} / {task_shares[-1]:.1%}"
        )
    share = statistics.median(shares)
    t_med, a_med = statistics.median(t_rates), statistics.median(a_rates)
    out = [
        Metric(
            backend,
            f"durable append, {threads} threads, throughput",
            f"{t_med:,.0f} /s",
            f"{a_med:,.0f} /s",
            f"{share:.1%}",
            f"≥ {TARGET_GROUP_SHARE:.0%}",
            share >= TARGET_GROUP_SHARE,
            {
                "tether_rates": t_rates,
                "anchor_rates": a_rates,
                "shares": shares,
                "share": share,
                "mean_batch": batch_sizes,
                "threads": threads,
                "per_thread": per_thread,
                "anchor_is": "executemany, one transaction",
            },
        )
    ]
    task_share = statistics.median(task_shares)
    k_med = statistics.median(k_rates)
    out.append(
        Metric(
            backend,
            f"durable append, {threads} asyncio tasks, throughput",
            f"{k_med:,.0f} /s",
            f"{a_med:,.0f} /s",
            f"{task_share:.1%}",
            f"≥ {TARGET_GROUP_SHARE:.0%}",
            task_share >= TARGET_GROUP_SHARE,
            {
                "tether_rates": k_rates,
                "anchor_rates": a_rates,
                "shares": task_shares,
                "share": task_share,
                "mean_batch": task_batches,
                "tasks": threads,
                "anchor_is": "executemany, one transaction (same rounds as the threads)",
            },
        )
    )
    # Context: the ceiling of thread callers in CPython. The same group commit, with a
    # writer that only runs the anchor's own executemany + commit of precomputed rows
    # (no encoding, hashing or tree work, no payload to canonicalise): what is left is
    # the cost of handing a batch back to 32 blocked threads.
    floor_rows = [anchor_row(next_idx(), it, now_stamp()) for it in gen.take(total)]
    floor_chunks = [floor_rows[i::threads] for i in range(threads)]

    def bare_write(rows: Sequence[Row]) -> list[None]:
        anchor.insert_many(list(rows))
        return [None] * len(rows)

    group: GroupCommit[None] = GroupCommit(bare_write, "bench-floor")

    def floor_work(i: int) -> None:
        for row in floor_chunks[i]:
            group.wait(row)

    floor_rate = total / _run_threads(threads, floor_work)
    group.close()
    out.append(
        Metric(
            backend,
            f"  thread hand-off ceiling, {threads} threads",
            f"{floor_rate:,.0f} /s",
            f"{a_med:,.0f} /s",
            f"{floor_rate / a_med:.1%}",
            "(info)",
            None,
            {
                "rate": floor_rate,
                "anchor_is": "group commit whose writer is the bare executemany; no tether work",
            },
        )
    )
    if naive:
        # Context: the same 32 threads with bare per-row commits and no group commit.
        items = gen.take(total)
        stamp = now_stamp()
        rows = [anchor_row(next_idx(), it, stamp) for it in items]
        chunks_rows = [rows[i::threads] for i in range(threads)]
        inserters = [anchor.threaded_connection() for _ in range(threads)]

        def naive_work(i: int) -> None:
            for row in chunks_rows[i]:
                inserters[i](row)

        naive_rate = total / _run_threads(threads, naive_work)
        out.append(
            Metric(
                backend,
                f"  bare per-row commit, {threads} threads",
                f"{t_med:,.0f} /s",
                f"{naive_rate:,.0f} /s",
                f"{t_med / naive_rate:.2f}x",
                "(info)",
                None,
                {"naive_rate": naive_rate, "anchor_is": "32 threads, INSERT+COMMIT each"},
            )
        )
    return out


# =======================================================================================
# 3. build a large ledger, verify it in a subprocess
# =======================================================================================


def build_ledger(
    t: Tether, gen: DecisionGenerator, entries: int, chunk: int, backend: str, log: Console
) -> dict[str, Any]:
    """Append ``entries`` with async durability, at most two chunks in flight."""
    pool = gen.take(min(entries, 10_000))  # cycled: the entry bytes still all differ
    ledger = t.ledger
    counter = BatchCounter(t)
    start = ledger.size
    t0 = time.perf_counter()
    last_report = t0
    pending = None
    done = 0
    while done < entries:
        n = min(chunk, entries - done)
        fut = None
        for k in range(done, done + n):
            it = pool[k % len(pool)]
            fut = ledger.append(
                it.kind, it.actor, it.payload, subject=it.subject, durability="async"
            )
        if pending is not None:
            pending.result()
        pending = fut
        done += n
        now = time.perf_counter()
        if now - last_report > 10:
            last_report = now
            log.print(
                f"  [{backend}] build: {done:,}/{entries:,} queued, {done / (now - t0):,.0f}/s"
            )
    if pending is not None:
        pending.result()
    ledger.flush()
    elapsed = time.perf_counter() - t0
    batches, rows = counter.take()
    size = ledger.size
    if size - start != entries:
        raise RuntimeError(f"built {size - start} entries, expected {entries}")
    ledger.checkpoint()  # a checkpoint at the final size, for receipts
    return {
        "entries": entries,
        "seconds": elapsed,
        "rate_per_s": entries / elapsed,
        "batches": batches,
        "mean_batch": rows / max(batches, 1),
    }


def _child(argv: list[str], log: Console | None = None) -> dict[str, Any]:
    """Run this script as a fresh subprocess and return the JSON it prints (one retry)."""
    for attempt in (1, 2):
        proc = subprocess.run(
            [sys.executable, __file__, *argv], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        if log is not None:
            log.print(f"  child {argv[:2]} failed (attempt {attempt}):\n{proc.stderr[-3000:]}")
    raise RuntimeError(f"benchmark child {argv[:2]} failed twice: {proc.stderr[-3000:]}")


def bench_verify(
    settings: Settings,
    backend: Backend,
    entries: int,
    rounds: int,
    log: Console,
    *,
    trace: bool = True,
    single_worker: bool = True,
) -> list[Metric]:
    env_args = ["--_home", str(settings.home), "--_url", settings.database_url]
    scan_args = backend.scan_args(settings)
    runs: list[dict[str, Any]] = []
    scans: list[dict[str, Any]] = []
    for r in range(rounds):
        order = [("verify", env_args), ("scan", scan_args)]
        if r % 2:
            order.reverse()
        for mode, extra in order:
            res = _child(["--_child", mode, *extra], log)
            (runs if mode == "verify" else scans).append(res)
        v, s = runs[-1], scans[-1]
        log.print(
            f"  [{backend.name}] verify round {r + 1}/{rounds}: tether {v['seconds']:.2f} s "
            f"({v['workers']} worker processes; peak RSS growth of the process tree "
            f"{v['tree_rss_growth_mb']:.0f} MB, anonymous {v['tree_anon_growth_mb']:.0f} MB; "
            f"ok={v['ok']}), bare scan+hash {s['seconds']:.2f} s"
        )
    one = None
    if single_worker:
        one = _child(["--_child", "verify", "--_workers", "1", *env_args], log)
        log.print(f"  [{backend.name}] verify with workers=1: {one['seconds']:.2f} s")
    traced = _child(["--_child", "trace", "--_workers", "1", *env_args], log) if trace else None
    secs = statistics.median(r["seconds"] for r in runs)
    scan = statistics.median(s["seconds"] for s in scans)
    growth = max(r["tree_rss_growth_mb"] for r in runs)
    anon = max(r["tree_anon_growth_mb"] for r in runs)
    per_million = secs * 1_000_000 / entries
    scale = "" if entries == 1_000_000 else f" ({per_million:.2f} s per 1M)"
    ok = all(r["ok"] for r in runs)
    out = [
        Metric(
            backend.name,
            f"verify {entries:,} entries ({runs[0]['workers'] or 'no'} worker processes)",
            f"{secs:.2f} s{scale}",
            f"{scan:.2f} s",
            f"{secs / scan:.2f}x",
            f"≤ {TARGET_VERIFY_S:.0f} s / 1M",
            ok and per_million <= TARGET_VERIFY_S,
            {
                "runs": runs,
                "scans": scans,
                "seconds": secs,
                "seconds_per_million": per_million,
                "anchor_is": "bare driver scan in one process: read every row, hash entry "
                "+ payload, fold the root",
                "all_ok": ok,
            },
        )
    ]
    if one is not None:
        out.append(
            Metric(
                backend.name,
                "  verify, workers=1",
                f"{one['seconds']:.2f} s",
                f"{scan:.2f} s",
                f"{one['seconds'] / scan:.2f}x",
                "(info)",
                None,
                {"run": one},
            )
        )
    scan_rss = max(s["tree_rss_growth_mb"] for s in scans)
    scan_anon = max(s["tree_anon_growth_mb"] for s in scans)
    memory = {
        "tree_rss_growth_mb": [r["tree_rss_growth_mb"] for r in runs],
        "tree_anon_growth_mb": [r["tree_anon_growth_mb"] for r in runs],
        "tracemalloc_peak_mb_workers_1": None if traced is None else traced["tracemalloc_peak_mb"],
        "method": MEMORY_METHOD,
    }
    out += [
        Metric(
            backend.name,
            "verify peak RSS growth, process tree",
            f"{growth:.0f} MB",
            f"{scan_rss:.0f} MB",
            "—",
            f"≤ {TARGET_VERIFY_MB:.0f} MB",
            growth <= TARGET_VERIFY_MB,
            memory,
        ),
        Metric(
            backend.name,
            "  of which private (RssAnon)",
            f"{anon:.0f} MB",
            f"{scan_anon:.0f} MB",
            "—",
            f"≤ {TARGET_VERIFY_MB:.0f} MB",
            anon <= TARGET_VERIFY_MB,
            {"note": "RSS minus file-backed pages (the mmap'd database, page cache)"},
        ),
    ]
    if traced is not None:
        out.append(
            Metric(
                backend.name,
                "  verify tracemalloc peak, workers=1",
                f"{traced['tracemalloc_peak_mb']:.0f} MB",
                "—",
                "—",
                "(info)",
                None,
                {"run": traced},
            )
        )
    return out


MEMORY_METHOD = (
    "verify runs in a fresh subprocess (and starts its own worker processes). A sampler "
    "thread reads /proc/<pid>/status of that process and all its descendants every 20 ms; "
    "growth = peak of the summed VmRSS (and RssAnon) minus the caller's VmRSS (RssAnon) "
    "just before verify. Workers count in full (they did not exist before). VmRSS includes "
    "file-backed pages of the SQLite database mapped with PRAGMA mmap_size (page cache); "
    "RssAnon is private memory only. Also recorded: the caller's VmHWM growth (HWM reset "
    "via /proc/self/clear_refs) and each worker's VmHWM. ru_maxrss is recorded but not "
    "used: Linux copies the parent's high-water mark into it at exec."
)


def _proc_status(pid: int | str) -> dict[str, int]:
    """The kB fields of /proc/<pid>/status (empty if the process is gone)."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if rest.endswith(" kB"):
            out[key] = int(rest.split()[0])
    return out


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                kids = [int(c) for c in task.read_text().split()]
                found += kids
                todo += kids
    return found


class TreeMemory:
    """Peak memory of this process and its descendants over a block (see MEMORY_METHOD)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.pid = os.getpid()
        self.peak_rss = 0
        self.peak_anon = 0
        self.worker_hwm: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        rss = anon = 0
        for pid in (self.pid, *_descendants(self.pid)):
            st = _proc_status(pid)
            if not st:
                continue
            rss += st.get("VmRSS", 0)
            anon += st.get("RssAnon", 0)
            if pid != self.pid:
                self.worker_hwm[pid] = max(self.worker_hwm.get(pid, 0), st.get("VmHWM", 0))
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_anon = max(self.peak_anon, anon)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> TreeMemory:
        gc.collect()
        self.reset = False
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
            self.reset = True
        st = _proc_status("self")
        self.rss0, self.anon0 = st.get("VmRSS", 0), st.get("RssAnon", 0)
        self.ru0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.peak_rss, self.peak_anon = self.rss0, self.anon0
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.hwm_after = _proc_status("self").get("VmHWM", 0)
        self.ru1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def result(self) -> dict[str, Any]:
        mb = 1 / 1024
        return {
            "tree_rss_growth_mb": (self.peak_rss - self.rss0) * mb,
            "tree_anon_growth_mb": (self.peak_anon - self.anon0) * mb,
            "caller_rss_before_mb": self.rss0 * mb,
            "caller_hwm_growth_mb": (self.hwm_after - self.rss0) * mb,
            "caller_hwm_reset": self.reset,
            "worker_hwm_mb": sorted(v * mb for v in self.worker_hwm.values()),
            "workers": len(self.worker_hwm),
            "ru_maxrss_before_mb": self.ru0 * mb,
            "ru_maxrss_after_mb": self.ru1 * mb,
        }


def child_verify(
    home: str, url: str, *, trace: bool = False, workers: int | None = None
) -> dict[str, Any]:
    t = Tether.open(Settings(home=Path(home), database_url=url), read_only=True)
    kwargs: dict[str, Any] = {} if workers is None else {"workers": workers}
    try:
        if trace:  # Python-heap peak of the calling process only (tracemalloc is slow)
            tracemalloc.start()
            report = verify_ledger(t.store, t.ledger.verifier, **kwargs)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            return {"tracemalloc_peak_mb": peak / 2**20, "ok": report.ok}
        with TreeMemory() as mem:
            t0 = time.perf_counter()
            report = verify_ledger(t.store, t.ledger.verifier, **kwargs)
            seconds = time.perf_counter() - t0
    finally:
        t.close()
    return {
        "seconds": seconds,
        "ok": report.ok,
        "entries": report.entries_checked,
        "nodes": report.nodes_checked,
        "checkpoints": report.checkpoints_checked,
        **mem.result(),
        "summary": report.summary(),
    }


def child_scan(sqlite_path: str | None, pg_conninfo: str | None) -> dict[str, Any]:
    """The floor of verify: read every stored row once, hash it, fold the tree root."""
    sha = hashlib.sha256
    frontier: list[bytes] = []
    size = 0
    bad = 0
    sql = "SELECT idx, entry, leaf, payload FROM ledger_entries ORDER BY idx"

    def consume(rows: Any) -> None:
        nonlocal size, bad
        for _idx, entry, leaf, payload in rows:
            h = sha(b"\x00" + entry).digest()
            if h != leaf:
                bad += 1
            sha(payload).hexdigest()
            n = size
            while n & 1:
                h = sha(b"\x01" + frontier.pop() + h).digest()
                n >>= 1
            frontier.append(h)
            size += 1

    with TreeMemory() as mem:
        t0 = time.perf_counter()
        if sqlite_path is not None:
            conn = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
            consume(conn.execute(sql))
            conn.close()
        else:
            import psycopg

            with psycopg.connect(pg_conninfo or "") as pg, pg.cursor(name="scan") as cur:
                cur.itersize = 20_000
                cur.execute(sql)
                consume(cur)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": size, "bad": bad, **mem.result()}


# =======================================================================================
# 4. inclusion proofs and receipts at N entries
# =======================================================================================


def _proof_nodes(index: int, size: int) -> tuple[list[int], list[int]]:
    leaves: list[int] = []
    keys: list[int] = []
    for start, end in inclusion_ranges(index, size):
        for level, i in subtree_parts(start, end):
            if level == 0:
                leaves.append(i)
            else:
                keys.append(node_key(level, i))
    return leaves, keys


def bench_proofs(
    t: Tether,
    anchor: Anchor,
    settings: Settings,
    rounds: int,
    per_round: int,
    backend: str,
    log: Console,
) -> list[Metric]:
    ledger = t.ledger
    size = ledger.size
    rng = random.Random(SEED + 4)
    reader = anchor.proof_reader(settings)
    clock = time.perf_counter_ns
    # correctness first: one proof against the signed checkpoint's root
    cp = ledger.checkpoint()
    probe = rng.randrange(size)
    verify_inclusion(
        ledger.get(probe).leaf_hash, probe, cp.size, ledger.inclusion_proof(probe, cp.size), cp.root
    )
    for i in rng.sample(range(size), 20):  # warm-up
        ledger.inclusion_proof(i, size)
        ledger.receipt(i)
        reader(*_proof_nodes(i, size))
    proof_ns: list[int] = []
    anchor_ns: list[int] = []
    receipt_ns: list[int] = []
    ratios: list[float] = []
    for r in range(rounds):
        indices = [rng.randrange(size) for _ in range(per_round)]
        wanted = [_proof_nodes(i, size) for i in indices]
        p_round: list[int] = []
        a_round: list[int] = []

        def run_tether(indices: list[int] = indices, out: list[int] = p_round) -> None:
            for i in indices:
                t0 = clock()
                ledger.inclusion_proof(i, size)
                out.append(clock() - t0)

        def run_anchor(
            wanted: list[tuple[list[int], list[int]]] = wanted, out: list[int] = a_round
        ) -> None:
            for leaves, keys in wanted:
                t0 = clock()
                reader(leaves, keys)
                out.append(clock() - t0)

        first, second = (run_anchor, run_tether) if r % 2 == 0 else (run_tether, run_anchor)
        first()
        second()
        for i in indices:
            t0 = clock()
            ledger.receipt(i)
            receipt_ns.append(clock() - t0)
        ratios.append(statistics.median(p_round) / statistics.median(a_round))
        proof_ns += p_round
        anchor_ns += a_round
    ps, an, rc = summary_us(proof_ns), summary_us(anchor_ns), summary_us(receipt_ns)
    ratio = statistics.median(ratios)
    log.print(
        f"  [{backend}] proofs at {size:,}: median {ps['median_us']:.0f} µs, "
        f"bare queries {an['median_us']:.0f} µs, receipt {rc['median_us']:.0f} µs"
    )
    return [
        Metric(
            backend,
            f"inclusion proof at {size:,}, median",
            fmt_us(ps["median_us"]),
            fmt_us(an["median_us"]),
            f"{ratio:.2f}x",
            f"≤ {TARGET_PROOF_MS:.0f} ms",
            ps["median_us"] <= TARGET_PROOF_MS * 1000,
            {
                "tether": ps,
                "anchor": an,
                "round_ratios": ratios,
                "size": size,
                "anchor_is": "bare driver: the same leaf and node IN queries",
            },
        ),
        Metric(
            backend,
            f"inclusion proof at {size:,}, p99",
            fmt_us(ps["p99_us"]),
            fmt_us(an["p99_us"]),
            f"{ps['p99_us'] / an['p99_us']:.2f}x",
            "(info)",
            None,
            {},
        ),
        Metric(
            backend,
            f"receipt at {size:,}, median (p99)",
            f"{fmt_us(rc['median_us'])} ({fmt_us(rc['p99_us'])})",
            "—",
            f"{rc['median_us'] / ps['median_us']:.2f}x proof",
            "(info)",
            None,
            {"tether": rc},
        ),
    ]


# =======================================================================================
# Payload cost and profile
# =======================================================================================


def bench_canonical(seed: int) -> Metric:
    """canonical_json of a realistic payload: with JSON floats vs integers only."""
    floats = [it.payload for it in DecisionGenerator(seed).take(2000)]
    ints = [it.payload for it in DecisionGenerator(seed, integer_only=True).take(2000)]
    sizes = [len(canonical_json(p)) for p in floats]

    def per_call(payloads: list[dict[str, Any]]) -> float:
        best = math.inf
        for _ in range(5):
            t0 = time.perf_counter()
            for p in payloads:
                canonical_json(p)
            best = min(best, (time.perf_counter() - t0) / len(payloads) * 1e6)
        return best

    f_us, i_us = per_call(floats), per_call(ints)
    return Metric(
        "python",
        "canonical_json of a decision payload",
        f"{f_us:.1f} µs (floats)",
        f"{i_us:.1f} µs (ints only)",
        f"{f_us / i_us:.1f}x",
        "(info)",
        None,
        {"floats_us": f_us, "ints_us": i_us, "payload_bytes_mean": statistics.fmean(sizes)},
    )


def profile_appends(workdir: Path, gen: DecisionGenerator, count: int, top: int) -> str:
    home = workdir / "profile"
    t = Tether.init(SqliteBackend(workdir).settings(home, "profile"))
    try:
        items = gen.take(count + 20)
        for it in items[:20]:
            t.ledger.append(it.kind, it.actor, it.payload, subject=it.subject)
        prof = cProfile.Profile()
        prof.enable()
        for it in items[20:]:
            t.ledger.append(it.kind, it.actor, it.payload, subject=it.subject)
        prof.disable()
    finally:
        t.close()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# =======================================================================================
# Driver
# =======================================================================================


def save_results(name: str, stamp: str, result: dict[str, Any], quick: bool, console: Any) -> None:
    """Write ``result`` as ``results/<name>-<stamp>[-quick].json`` and as
    ``<name>-latest[-quick].json`` (a quick run never replaces a full one)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, default=str) + "\n"
    suffix = "-quick" if quick else ""
    dated = RESULTS / f"{name}-{stamp}{suffix}.json"
    dated.write_text(text, encoding="utf-8")
    (RESULTS / f"{name}-latest{suffix}.json").write_text(text, encoding="utf-8")
    console.print(f"saved {dated.relative_to(RESULTS.parent.parent)}")


def git_info() -> dict[str, Any]:
    """The commit measured, and whether src/ had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            return subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            ).stdout.rstrip()  # not strip(): porcelain lines start with a space
        return ""

    import tether

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    module = str(Path(tether.__file__).resolve().parent)
    return {
        "commit": git("rev-parse", "HEAD"),
        "short": git("rev-parse", "--short", "HEAD"),
        "src_uncommitted": dirty,
        "tether_module": module,
        "tether_from_this_checkout": module.startswith(str(root / "src")),
    }


def machine_info(**versions: str) -> dict[str, Any]:
    """CPU, cores, memory, platform, Python, tether and ``versions`` of other packages."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    import tether

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tether": tether.__version__,
        **versions,
    }


def _ledger_machine_info() -> dict[str, Any]:
    import orjson
    import sqlalchemy

    info = machine_info(sqlalchemy=sqlalchemy.__version__, orjson=orjson.__version__)
    info["load_avg_at_start"] = os.getloadavg()
    return info


def run_backend(
    backend: Backend, args: argparse.Namespace, workdir: Path, log: Console
) -> list[Metric]:
    metrics: list[Metric] = []
    gen = DecisionGenerator(args.seed, integer_only=args.integer_payload)
    counter = iter(range(10**12))

    def next_idx() -> int:
        return next(counter)

    # 1 + 2: a small ledger
    small = backend.settings(workdir / f"{backend.name}-small", "small")
    t = Tether.init(small)
    anchor = backend.anchor()
    try:
        metrics += bench_single(
            t, anchor, gen, args.rounds, args.appends, 20, next_idx, backend.name, log
        )
        metrics += bench_concurrent(
            t,
            anchor,
            gen,
            args.rounds,
            args.threads,
            args.per_thread,
            next_idx,
            backend.name,
            log,
            naive=not args.no_naive,
        )
    finally:
        t.close()
        anchor.close()

    # 3 + 4: a large ledger
    entries = args.entries if backend.name == "sqlite" else args.pg_entries
    big = backend.settings(workdir / f"{backend.name}-big", "big")
    t = Tether.init(big)
    anchor = backend.anchor()
    try:
        log.print(f"  [{backend.name}] building {entries:,} entries (async appends)...")
        build = build_ledger(t, gen, entries, args.build_chunk, backend.name, log)
        log.print(
            f"  [{backend.name}] built in {build['seconds']:.1f} s "
            f"({build['rate_per_s']:,.0f}/s, mean batch {build['mean_batch']:.0f})"
        )
        metrics.append(
            Metric(
                backend.name,
                f"bulk async append ({entries:,})",
                f"{build['rate_per_s']:,.0f} /s",
                "—",
                "—",
                "(info)",
                None,
                {**build, "note": f"{build['seconds']:.1f} s to build"},
            )
        )
        metrics += bench_proofs(t, anchor, big, args.rounds, args.proofs, backend.name, log)
    finally:
        t.close()
        anchor.close()
    metrics += bench_verify(
        big, backend, entries, args.verify_rounds, log, trace=not args.no_tracemalloc
    )
    return metrics


def render(metrics: list[Metric], console: Console, title: str) -> None:
    table = Table(title=title, show_lines=False)
    for col, justify in (
        ("metric", "left"),
        ("tether", "right"),
        ("anchor", "right"),
        ("ratio", "right"),
        ("target", "right"),
        ("pass", "center"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    last = None
    for m in metrics:
        if last is not None and m.backend != last:
            table.add_section()
        last = m.backend
        verdict = {True: "[green]yes[/]", False: "[red]NO[/]", None: "—"}[m.passed]
        table.add_row(
            escape(f"[{m.backend}] {m.name}"), m.tether, m.anchor, m.ratio, m.target, verdict
        )
    console.print(table)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="tether ledger benchmark (W2): ratios to bare SQLite/PostgreSQL.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small run (seconds): 3 rounds, 50k entries; for smoke-testing",
    )
    p.add_argument(
        "--entries",
        type=int,
        default=None,
        help="entries for verify/proofs on SQLite (default 1,000,000)",
    )
    p.add_argument(
        "--postgres",
        action="store_true",
        help=f"also run on PostgreSQL (automatic when {PG_ENV} is set; default URL {PG_DEFAULT})",
    )
    p.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    p.add_argument(
        "--pg-entries",
        type=int,
        default=None,
        help="entries for verify/proofs on PostgreSQL (default 200,000)",
    )
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 5)")
    p.add_argument(
        "--appends", type=int, default=None, help="single-caller appends per round (default 300)"
    )
    p.add_argument("--threads", type=int, default=32, help="concurrent callers (default 32)")
    p.add_argument(
        "--per-thread", type=int, default=None, help="appends per thread per round (default 100)"
    )
    p.add_argument("--proofs", type=int, default=None, help="proofs per round (default 200)")
    p.add_argument(
        "--verify-rounds", type=int, default=None, help="verify subprocess runs (default 3)"
    )
    p.add_argument(
        "--build-chunk",
        type=int,
        default=10_000,
        help="async appends in flight per chunk while building",
    )
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument(
        "--integer-payload",
        action="store_true",
        help="payloads without JSON floats (amounts in cents, scores in basis points)",
    )
    p.add_argument(
        "--no-naive", action="store_true", help="skip the bare 32-thread per-row-commit context row"
    )
    p.add_argument(
        "--no-tracemalloc",
        action="store_true",
        help="skip the extra verify run under tracemalloc (Python-heap peak)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile 300 durable SQLite appends and print the top costs",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where databases go (default: a temp dir, removed afterwards)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work dir")
    p.add_argument("--no-save", action="store_true", help="don't write bench/results/")
    p.add_argument("--note", default="", help="free text stored in the JSON (e.g. what src)")
    # internal: subprocess entry points
    p.add_argument("--_child", choices=["verify", "trace", "scan"], help=argparse.SUPPRESS)
    p.add_argument("--_home", help=argparse.SUPPRESS)
    p.add_argument("--_url", help=argparse.SUPPRESS)
    p.add_argument("--_workers", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--_sqlite-path", dest="_sqlite_path", help=argparse.SUPPRESS)
    p.add_argument("--_pg-conninfo", dest="_pg_conninfo", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {
        "entries": 50_000 if quick else 1_000_000,
        "pg_entries": 20_000 if quick else 200_000,
        "rounds": 3 if quick else 5,
        "appends": 50 if quick else 300,
        "per_thread": 10 if quick else 100,
        "proofs": 50 if quick else 200,
        "verify_rounds": 1 if quick else 3,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._child in ("verify", "trace"):
        result = child_verify(
            args._home, args._url, trace=args._child == "trace", workers=args._workers
        )
        print(json.dumps(result))
        return 0
    if args._child == "scan":
        print(json.dumps(child_scan(args._sqlite_path, args._pg_conninfo)))
        return 0

    console = Console(width=None if sys.stdout.isatty() else 150)
    log = Console(
        stderr=True, highlight=False, markup=False, width=None if sys.stderr.isatty() else 150
    )
    pg_url = os.environ.get(PG_ENV) or (PG_DEFAULT if args.postgres else "")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tether-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    meta: dict[str, Any] = {
        "benchmark": "W2 ledger append and verify",
        "date": started.isoformat(timespec="seconds"),
        "machine": _ledger_machine_info(),
        "git": git_info(),
        "note": args.note,
        "args": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if not k.startswith("_")
        },
        "payload": "seeded W1 decision records"
        + (" (integers only)" if args.integer_payload else " (with JSON floats)"),
        "backends": {},
    }
    metrics: list[Metric] = []
    sample = DecisionGenerator(args.seed, integer_only=args.integer_payload).take(1000)
    stamp = now_stamp()
    rows = [anchor_row(i, it, stamp) for i, it in enumerate(sample)]
    meta["row_bytes"] = {
        "entry_mean": statistics.fmean(len(r[1]) for r in rows),
        "payload_mean": statistics.fmean(len(r[3]) for r in rows),
    }
    outcomes = [it.payload["outcome"] for it in sample]
    meta["payload_outcomes"] = {o: outcomes.count(o) / len(outcomes) for o in set(outcomes)}
    log.print(
        f"rows: entry ~{meta['row_bytes']['entry_mean']:.0f} B, payload "
        f"~{meta['row_bytes']['payload_mean']:.0f} B; work dir {workdir}"
    )
    profile_text = None
    backends: list[Backend] = []
    try:
        metrics.append(bench_canonical(args.seed))
        if not args.no_sqlite:
            backends.append(SqliteBackend(workdir))
        if pg_url:
            backends.append(PostgresBackend(pg_url))
        for backend in backends:
            meta["backends"][backend.name] = backend.info()
            log.print(f"== {backend.name} ==")
            metrics += run_backend(backend, args, workdir, log)
        if args.profile:
            profile_text = profile_appends(
                workdir,
                DecisionGenerator(args.seed + 1, integer_only=args.integer_payload),
                300,
                30,
            )
    finally:
        for backend in backends:
            with contextlib.suppress(Exception):
                backend.close()
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    meta["seconds"] = (dt.datetime.now(dt.UTC) - started).total_seconds()
    meta["machine"]["load_avg_at_end"] = os.getloadavg()
    result = {**meta, "metrics": [vars(m) for m in metrics]}
    if profile_text is not None:
        result["profile_300_durable_appends"] = profile_text
        console.print(profile_text)
    note = f"{meta['machine']['cores']} cores, {meta['machine']['cpu']}"
    render(metrics, console, f"tether ledger vs bare database — {meta['date']} — {note}")
    if not args.no_save:
        save_results("ledger", started.date().isoformat(), result, args.quick, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
