"""Decision feed benchmark (issue 6): the first page of ``GET /v1/decisions`` at
1,000,000 decisions, target <= 200 ms.

1. Build (once, cached): a SQLite tether in a temporary directory with ``--decisions``
   (1,000,000) real decision entries: each is a ledger entry with the pipeline's record
   shape and its ``decisions`` row (the same mutation the pipeline commits), appended
   with async durability so the ledger writer commits them many per transaction (group
   commit). 20 systems, 200 actors, outcomes 80 % allowed, 15 % denied, 3 %
   pending_approval, 2 % rate_limited, spread over 30 days. The store is kept in
   ``--cache`` (default: ``$TMPDIR/tether-bench-feed-<N>``) and reused by later runs;
   ``--rebuild`` builds it again.
2. Measure, ``--repeat`` (20) times each, the first page of the feed three ways: over
   HTTP in-process (FastAPI ``TestClient``, an admin token, ``limit=50``: request to
   parsed JSON), the console page ``/console/decisions`` (a logged-in auditor: session
   check, query, rendered HTML) and ``decision_repo.feed`` directly (a read connection);
   unfiltered and filtered by system, actor, outcome (common and rare), a one-day time
   range (mid-way, and the oldest day), everything since the start, the last day,
   system + outcome, and a page deep in the feed (half way down).
   Reported: median and p95 (nearest rank) in milliseconds, against the target.

Run ``python bench/feed.py --help``; results go to ``bench/results/feed-*.json``.
Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table

from ledger import git_info, machine_info, pct, save_results
from tether import Settings, Tether
from tether.server import Tokens, create_app
from tether.server._pages import encode_key
from tether.server._users import Users
from tether.store import decision_repo
from tether.testing import FrozenClock

TARGET_MS = 200.0
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAYS = 30
SYSTEMS = [f"system-{i:02d}" for i in range(20)]
ACTORS = [f"svc:client-{i:03d}" for i in range(200)]
OUTCOMES = [("allowed", 80), ("denied", 15), ("pending_approval", 3), ("rate_limited", 2)]
ADMIN = "user:bench-admin"
AUDITOR = "user:bench-auditor"
CHUNK = 5_000  # appends queued before waiting for the previous chunk's commit


def _settings(home: Path) -> Settings:
    return Settings(home=home, database_url=f"sqlite:///{home / 'tether.db'}")


def _payload(i: int, rng: random.Random, at: float) -> tuple[dict[str, Any], str, str]:
    """A decision record as the pipeline writes it, and its outcome and actor."""
    system, actor = rng.choice(SYSTEMS), rng.choice(ACTORS)
    outcome = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
    effect = {"allowed": "allow", "pending_approval": "require_approval"}.get(outcome, "deny")
    rules = ["clients-score"] if outcome == "allowed" else ["tether:default-deny"]
    payload = {
        "id": f"dec_bench{i:010d}", "system": system, "action": "score", "actor": actor,
        "inputs": {"amount": round(rng.uniform(1, 5000), 2),
                   "customer": f"c{rng.randrange(10**6)}"},
        "context": {"channel": rng.choice(["web", "app", "batch"])},
        "effect": effect, "outcome": outcome, "rules": rules, "matched": rules,
        "reasons": [f"rule {rules[0]}"], "policy": 1,
        "verdict": {"effect": effect, "rules": rules},
        "approval": f"apr_bench{i:010d}" if outcome == "pending_approval" else None,
        "guardrails": [], "output_digest": None, "output": None, "error": None, "run": None,
        "run_workflow": None, "run_cost": None, "shadow": None,
        "latency_us": {"policy": 40, "total": 120}, "at": at,
    }  # fmt: skip
    return payload, outcome, actor


def build(home: Path, decisions: int, log: Console) -> dict[str, Any]:
    """A store with ``decisions`` decision entries (and a few inventory entries)."""
    if home.exists():
        shutil.rmtree(home)
    clock = FrozenClock(START)
    t = Tether.init(_settings(home), clock=clock)
    t0 = time.perf_counter()
    try:
        t.actors.register(ADMIN, kind="human", roles=["admin"], actor="admin")
        for name in SYSTEMS:
            t.systems.register(name, kind="model", owner="platform", risk_tier="limited",
                               actor=ADMIN)  # fmt: skip
        rng = random.Random(6)
        step = DAYS * 86_400 / decisions
        pending = None
        last = t0
        for start in range(0, decisions, CHUNK):
            future = None
            for i in range(start, min(start + CHUNK, decisions)):
                at = START.timestamp() + i * step
                payload, outcome, actor = _payload(i, rng, at)
                mutation = decision_repo.record(payload["id"], payload["system"], "score",
                                                outcome, at, None, actor)  # fmt: skip
                future = t.ledger.append("decision", actor, payload, durability="async",
                                         subject=f"system/{payload['system']}/action/score",
                                         mutation=mutation)  # fmt: skip
            clock.set(dt.datetime.fromtimestamp(START.timestamp() + start * step, dt.UTC))
            if pending is not None:
                pending.result()
            pending = future
            if time.perf_counter() - last > 10:
                last = time.perf_counter()
                rate = start / (last - t0)
                log.print(f"  build: {start:,}/{decisions:,} queued, {rate:,.0f}/s")
        if pending is not None:
            pending.result()
        t.ledger.flush()
        size = t.ledger.size
    finally:
        t.close()
    seconds = time.perf_counter() - t0
    (home / "built").write_text(f"{decisions}\n", encoding="utf-8")
    return {"decisions": decisions, "ledger_size": size, "seconds": seconds,
            "rate_per_s": decisions / seconds}  # fmt: skip


def _times(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm: connections, statement cache, pages of the index
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


@contextmanager
def _console(t: Tether, app: Any) -> Iterator[TestClient]:
    """A browser-like client logged in to the console as an auditor (the page's
    rendering, session and CSRF checks included in what is timed)."""
    if t.actors.find(AUDITOR) is None:
        t.actors.register(AUDITOR, kind="human", roles=["auditor"], actor=ADMIN)
    users = Users(t)
    password = secrets.token_urlsafe(16)
    name = f"bench-{secrets.token_hex(4)}"
    users.create(name, AUDITOR, "auditor", password, by=ADMIN)
    with TestClient(app, base_url="https://testserver") as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").text)
        assert token is not None
        form = {"username": name, "password": password, "csrf_token": token.group(1)}
        done = client.post("/console/login", data=form, follow_redirects=False)
        assert done.status_code == 303, done.text
        yield client


def measure(home: Path, repeat: int, log: Console) -> list[dict[str, Any]]:
    """Median and p95 of the first page, per filter, over HTTP and direct."""
    t = Tether.open(_settings(home))
    try:
        secret = Tokens(t).create(ADMIN, "admin", by=ADMIN)[1]
        with t.store.read() as conn:
            newest = decision_repo.feed(conn, limit=1)[0].ledger_index
        day = START + dt.timedelta(days=DAYS // 2)
        since, until = day.timestamp(), (day + dt.timedelta(days=1)).timestamp()
        iso = {"since": day.isoformat(), "until": (day + dt.timedelta(days=1)).isoformat()}
        half = newest // 2
        first = START + dt.timedelta(days=1)  # the worst case: the scan runs to the oldest
        old = {"since": START.timestamp(), "until": first.timestamp()}
        old_iso = {"since": START.isoformat(), "until": first.isoformat()}
        cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
            ("no filter", {}, {}),
            ("system", {"system": SYSTEMS[7]}, {"system": SYSTEMS[7]}),
            ("actor", {"actor": ACTORS[42]}, {"actor": ACTORS[42]}),
            ("outcome denied", {"outcome": "denied"}, {"outcome": "denied"}),
            ("outcome rate_limited (2 %)", {"outcome": "rate_limited"},
             {"outcome": "rate_limited"}),
            ("one day, mid-range", {"since": since, "until": until}, iso),
            ("first day (oldest)", old, old_iso),
            ("since the start (all)", {"since": START.timestamp()},
             {"since": START.isoformat()}),
            ("last day", {"since": START.timestamp() + (DAYS - 1) * 86400.0},
             {"since": (START + dt.timedelta(days=DAYS - 1)).isoformat()}),
            ("system + outcome", {"system": SYSTEMS[3], "outcome": "denied"},
             {"system": SYSTEMS[3], "outcome": "denied"}),
            ("page half way down", {"before": half}, {"cursor": encode_key(half)}),
        ]  # fmt: skip
        rows = []
        app = create_app(t)
        with TestClient(app) as client, _console(t, app) as browser:
            headers = {"Authorization": f"Bearer {secret}"}
            for label, direct, query in cases:

                def repo(direct: dict[str, Any] = direct, label: str = label) -> Any:
                    with t.store.read() as conn:
                        found = decision_repo.feed(conn, limit=51, **direct)
                    assert found, label
                    return found

                def http(query: dict[str, Any] = query, label: str = label) -> Any:
                    r = client.get("/v1/decisions", params={**query, "limit": 50},
                                   headers=headers)  # fmt: skip
                    assert r.status_code == 200, r.text
                    body = r.json()
                    assert body["items"], label
                    return body

                shown = {k: v for k, v in query.items() if k != "cursor"}
                if "before" in direct:
                    shown["before"] = direct["before"]

                def page(shown: dict[str, Any] = shown, label: str = label) -> Any:
                    r = browser.get("/console/decisions", params=shown)
                    assert r.status_code == 200, r.text
                    assert "data-index" in r.text, label
                    return r.text

                paths = (("http", http), ("console", page), ("repository", repo))
                for path, fn in paths:
                    ms = _times(fn, repeat)
                    row = {"case": label, "path": path, "repeat": repeat,
                           "median_ms": statistics.median(ms), "p95_ms": pct(ms, 95),
                           "max_ms": max(ms), "target_ms": TARGET_MS}  # fmt: skip
                    row["ok"] = row["p95_ms"] <= TARGET_MS
                    rows.append(row)
                    log.print(f"  {label:<28} {path:<10} median {row['median_ms']:8.2f} ms  "
                              f"p95 {row['p95_ms']:8.2f} ms")  # fmt: skip
        return rows
    finally:
        t.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--decisions", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--cache", type=Path, default=None, help="where the built store is kept")
    p.add_argument("--rebuild", action="store_true", help="build the store again")
    p.add_argument("--quick", action="store_true", help="10,000 decisions, 5 repetitions")
    p.add_argument("--no-save", action="store_true", help="don't write bench/results/")
    args = p.parse_args(argv)
    if args.quick:
        args.decisions, args.repeat = 10_000, 5
    console = Console(stderr=True)
    home = args.cache or Path(tempfile.gettempdir()) / f"tether-bench-feed-{args.decisions}"
    started = dt.datetime.now(dt.UTC)
    built = home / "built"
    build_info: dict[str, Any] = {"cached": True, "home": str(home)}
    if args.rebuild or not built.exists():
        console.print(f"building {args.decisions:,} decisions in {home} (once; cached)")
        build_info = {"cached": False, "home": str(home), **build(home, args.decisions, console)}
        console.print(f"  built in {build_info['seconds']:.1f} s "
                      f"({build_info['rate_per_s']:,.0f} decisions/s)")  # fmt: skip
    else:
        console.print(f"reusing the store built in {home}")
    rows = measure(home, args.repeat, console)
    title = f"decision feed, first page of 50, {args.decisions:,} decisions"
    table = Table("case", "path", "median ms", "p95 ms", f"target <= {TARGET_MS:.0f} ms",
                  title=title)  # fmt: skip
    for r in rows:
        table.add_row(r["case"], r["path"], f"{r['median_ms']:.2f}", f"{r['p95_ms']:.2f}",
                      "ok" if r["ok"] else "MISSED")  # fmt: skip
    Console().print(table)
    out = {
        "benchmark": "feed", "started": started.isoformat(), "decisions": args.decisions,
        "repeat": args.repeat, "target_ms": TARGET_MS, "build": build_info, "results": rows,
        "all_ok": all(r["ok"] for r in rows), "machine": machine_info(), "git": git_info(),
        "cpus": os.cpu_count(), "python": sys.version.split()[0],
    }  # fmt: skip
    if not args.no_save:
        save_results("feed", started.strftime("%Y-%m-%dT%H%M"), out, args.quick, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
