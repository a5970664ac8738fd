"""Server benchmark (issue 6): decisions over HTTP with durable records, against a bare
FastAPI endpoint, side by side in the same run; and the console's decision feed.

1. A real ``tether serve`` (uvicorn, 1 worker, SQLite home in a temporary directory, the
   default durability: a decision is answered once its ledger record is committed) and a
   bare FastAPI app with one ``POST /v1/decisions`` that returns a constant JSON (an
   ``async def`` endpoint like tether's; ``--bare-endpoint sync`` makes it a ``def``,
   which FastAPI runs in its thread pool, as the first runs of this script did), run by
   uvicorn in its own process the same way (``uvicorn.run``, 1 worker,
   ``log_level="info"``, access log on). Both are
   driven by the same load generator: ``--concurrency`` (16) threads in this process,
   each with its own keep-alive ``http.client.HTTPConnection``, sending the same JSON
   body with the same bearer token. Rounds alternate (bare first on even rounds, tether
   first on odd ones). Per round and server: throughput = requests / wall time (barrier
   release to the last answer), per-request latency (send to body read). Reported: each
   server's median throughput over rounds, the median of the per-round ratios
   tether / bare (target >= 50 %), and p50 / p99 latency pooled over all rounds.

2. The console's decision feed with 1,000,000 decisions (first page <= 200 ms): the
   console is not built. The script looks for a decision list endpoint in the server's
   ``/openapi.json`` (``GET /v1/decisions``); there is none yet, so the figure is
   reported as "not built".

Everything is on loopback. Run ``python bench/server.py --help``; results go to
``bench/results/``. Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import tether
from ledger import git_info, machine_info, pct, save_results
from tether import Settings, Tether
from tether.policy import Policy
from tether.server import Tokens

BENCH = Path(__file__).resolve().parent
TETHER_CLI = [sys.executable, "-c", "from tether.cli import main; main()"]
READY_WITHIN = 90.0  # seconds: tether serve imports a lot on start

# -- targets (issue 6) --------------------------------------------------------------------
TARGET_RATIO = 0.50  # tether decisions/s over the bare endpoint's requests/s
TARGET_FEED_MS = 200.0  # first page of the decision feed at 1,000,000 decisions

SYSTEM, ACTION, ACTOR = "bench-api", "score", "svc:bench-client"
POLICY = f"""\
policy: server-bench
systems:
  {SYSTEM}: {{kind: model, owner: platform, risk_tier: limited}}
actions:
  {ACTION}: {{}}
rules:
  - id: clients-score
    actions: [{ACTION}]
    when: '"api-client" in actor.roles'
    effect: allow
"""

# The bare app's constant answer: the shape of a tether decision, so the response bodies
# are about the same size.
CONSTANT = {
    "id": "dec_0000000000000000000000000000",
    "system": SYSTEM,
    "action": ACTION,
    "actor": ACTOR,
    "effect": "allow",
    "outcome": "allowed",
    "allowed": True,
    "rules": ["clients-score"],
    "matched": ["clients-score"],
    "reasons": [],
    "policy_version": 1,
    "approval_id": None,
    "guardrails": [],
    "ledger_index": 0,
    "retry_after": None,
    "run_id": None,
}

DEFINITIONS = {
    "load_generator": (
        "--concurrency threads in the benchmark process, each with its own keep-alive "
        "http.client.HTTPConnection to 127.0.0.1; each sends POST /v1/decisions with the "
        "same JSON body and bearer token, one request at a time (closed loop). The same "
        "client drives both servers in the same rounds."
    ),
    "throughput_rps": (
        "per round and server: timed requests / wall time from the barrier release to the "
        "last answer; reported: the median over rounds."
    ),
    "ratio": (
        "per round: tether throughput / bare throughput; reported: the median over rounds "
        "(target >= 50 %)."
    ),
    "latency": (
        "per request: perf_counter_ns from just before conn.request to the end of "
        "response.read(); p50 and p99 pooled over all rounds."
    ),
    "server_cpu_us_per_request": (
        "per round: the server process's utime + stime (/proc/<pid>/stat) over the round / "
        "requests; median over rounds."
    ),
    "tether": (
        "tether serve --workers options.workers (uvicorn, log_level info), SQLite home, "
        "default durability (answer after the ledger commit); a service token; a policy that "
        "allows the action. Each answer is checked: 200, outcome allowed, a ledger index."
    ),
    "bare": (
        "FastAPI app with one POST /v1/decisions returning a constant dict of the same "
        "shape (body not parsed, no auth), an `async def` endpoint (or a `def` with "
        "--bare-endpoint sync: see options.bare_endpoint), served like tether's: "
        "uvicorn.run(app factory, workers=options.workers, log_level='info') in its own "
        "process."
    ),
}


# =========================================================================================
# Servers
# =========================================================================================


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        conn = self.connect()
        try:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def wait_ready(self, path: str) -> float:
        started = time.monotonic()
        last = "no answer"
        while time.monotonic() - started < READY_WITHIN:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.output()}")
            try:
                status, body = self.get(path)
            except (OSError, http.client.HTTPException) as exc:
                last = repr(exc)
            else:
                if status == 200:
                    return time.monotonic() - started
                last = f"{status} {body[:200]!r}"
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready in {READY_WITHIN}s ({last}):\n{self.output()}")

    def cpu_seconds(self) -> float:
        """utime + stime of the server and its worker processes (``--workers`` > 1)."""
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            if stat.parent.name == str(self.proc.pid) or fields[1] == str(self.proc.pid):
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _spawn(name: str, argv: list[str], workdir: Path, port: int) -> Server:
    # No TETHER_* from outside: the server runs with the defaults (durable records).
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
    return Server(name, proc, port, log)


def prepare_home(home: Path) -> str:
    """A tether home with the system, the client actor, the policy; returns a token."""
    with Tether.init(Settings(home=home)) as t:
        t.actors.register(ACTOR, kind="service", roles=["api-client"], actor="admin")
        t.policies.publish(Policy.from_text(POLICY, "server-bench.yaml"), actor="admin")
        return Tokens(t).create(ACTOR, "service", by="admin")[1]


def start_tether(home: Path, workdir: Path, workers: int) -> Server:
    port = free_port()
    argv = [*TETHER_CLI, "--home", str(home), "serve", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers)]  # fmt: skip
    return _spawn("tether", argv, workdir, port)


def start_bare(workdir: Path, style: str, workers: int) -> Server:
    port = free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "--_bare", str(port),
            "--bare-endpoint", style, "--workers", str(workers)]  # fmt: skip
    return _spawn("bare", argv, workdir, port)


_BARE_STYLE = "TETHER_BENCH_BARE_ENDPOINT"


def bare_app() -> Any:
    """The anchor: a FastAPI app with one POST endpoint returning a constant, written
    as an ``async def`` (like tether's) or a ``def`` (run in the thread pool)."""
    from fastapi import FastAPI

    app = FastAPI()

    if os.environ.get(_BARE_STYLE, "async") == "async":

        @app.post("/v1/decisions")
        async def decide() -> dict[str, Any]:
            return CONSTANT

    else:

        @app.post("/v1/decisions")
        def decide_sync() -> dict[str, Any]:
            return CONSTANT

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def bare_child(port: int, style: str, workers: int) -> int:
    """Serve :func:`bare_app` as ``tether serve`` serves its app: uvicorn, an app
    factory, and with several workers a listening socket re-wrapped as TCP (see
    ``tether.cli._serve._as_tcp``: without it every keep-alive response waits ~40 ms
    for a delayed ACK)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from tether.cli._serve import _as_tcp

    os.environ[_BARE_STYLE] = style
    sys.path.insert(0, str(BENCH))  # "server:bare_app" (spawned workers inherit sys.path)
    options: dict[str, Any] = {"factory": True, "host": "127.0.0.1", "port": port,
                               "log_level": "info"}  # fmt: skip
    if workers == 1:
        uvicorn.run("server:bare_app", **options)
        return 0
    config = uvicorn.Config("server:bare_app", workers=workers, **options)
    Multiprocess(config, sockets=[_as_tcp(config.bind_socket())]).run()
    return 0


# =========================================================================================
# Load
# =========================================================================================


def body_for(i: int) -> bytes:
    doc = {"system": SYSTEM, "action": ACTION, "inputs": {"amount": float(i % 10_000)}}
    return json.dumps(doc).encode()


def drive(
    server: Server, token: str, total: int, concurrency: int, warmup: int, check: bool
) -> dict[str, Any]:
    """One round: ``concurrency`` threads with a keep-alive connection each."""
    per = [total // concurrency + (1 if n < total % concurrency else 0) for n in range(concurrency)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    samples: list[list[int]] = [[] for _ in range(concurrency)]
    indices: list[list[int]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    sizes: list[int] = []
    barrier = threading.Barrier(concurrency + 1)
    done = [0] * concurrency

    def one(conn: http.client.HTTPConnection, i: int) -> tuple[int, bytes]:
        conn.request("POST", "/v1/decisions", body=body_for(i), headers=headers)
        r = conn.getresponse()
        return r.status, r.read()

    def worker(n: int) -> None:
        conn = server.connect()
        try:
            for i in range(warmup):
                one(conn, i)
            barrier.wait()
            out = samples[n]
            for i in range(per[n]):
                t0 = time.perf_counter_ns()
                status, raw = one(conn, n * 1_000_003 + i)
                out.append(time.perf_counter_ns() - t0)
                if status != 200:
                    errors.append(f"{status} {raw[:200]!r}")
                elif check:
                    doc = json.loads(raw)
                    if doc["outcome"] != "allowed" or not isinstance(doc["ledger_index"], int):
                        errors.append(f"unexpected {raw[:200]!r}")
                    indices[n].append(doc["ledger_index"])
                if i == 0 and n == 0:
                    sizes.append(len(raw))
            done[n] = time.perf_counter_ns()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            barrier.abort()
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(concurrency)]
    for th in threads:
        th.start()
    cpu0 = server.cpu_seconds()
    barrier.wait()
    start = time.perf_counter_ns()
    for th in threads:
        th.join()
    cpu1 = server.cpu_seconds()
    wall_s = (max(done) - start) / 1e9 if all(done) else float("nan")
    us = [s / 1000 for lst in samples for s in lst]
    n = len(us)
    flat_idx = [i for lst in indices for i in lst]
    return {
        "requests": n,
        "errors": len(errors),
        "first_errors": errors[:5],
        "wall_s": wall_s,
        "rps": n / wall_s if wall_s else float("nan"),
        "p50_us": pct(us, 50),
        "p90_us": pct(us, 90),
        "p99_us": pct(us, 99),
        "mean_us": statistics.fmean(us) if us else float("nan"),
        "max_us": max(us, default=float("nan")),
        "server_cpu_us_per_request": (cpu1 - cpu0) * 1e6 / n if n else float("nan"),
        "response_bytes": sizes[0] if sizes else None,
        "distinct_ledger_indices": len(set(flat_idx)) if check else None,
        "_us": us,
    }


def bench_http(
    tether_srv: Server, bare: Server, token: str, args: argparse.Namespace, log: Console
) -> dict[str, Any]:
    rounds: dict[str, list[dict[str, Any]]] = {"tether": [], "bare": []}
    pooled: dict[str, list[float]] = {"tether": [], "bare": []}
    arms = {"tether": (tether_srv, True), "bare": (bare, False)}
    for r in range(args.rounds):
        order = ("bare", "tether") if r % 2 == 0 else ("tether", "bare")
        for name in order:
            srv, check = arms[name]
            gc.collect()
            gc.disable()
            try:
                res = drive(srv, token, args.requests, args.concurrency, args.warmup, check)
            finally:
                gc.enable()
            if res["errors"]:
                raise RuntimeError(f"{name}: {res['errors']} errors: {res['first_errors']}")
            if check and res["distinct_ledger_indices"] != res["requests"]:
                raise RuntimeError(f"{name}: ledger indices not distinct")
            pooled[name] += res.pop("_us")
            rounds[name].append(res)
            log.print(
                f"round {r + 1}/{args.rounds} {name:6s} {res['rps']:8.0f} req/s  "
                f"p50 {res['p50_us'] / 1000:6.2f} ms  p99 {res['p99_us'] / 1000:6.2f} ms  "
                f"cpu {res['server_cpu_us_per_request']:6.0f} µs/req"
            )
    ratios = [t["rps"] / b["rps"] for t, b in zip(rounds["tether"], rounds["bare"], strict=True)]
    summary = {
        name: {
            "rps_median": statistics.median(x["rps"] for x in rs),
            "rps_rounds": [x["rps"] for x in rs],
            "p50_us": pct(pooled[name], 50),
            "p99_us": pct(pooled[name], 99),
            "server_cpu_us_per_request": statistics.median(
                x["server_cpu_us_per_request"] for x in rs
            ),
            "response_bytes": rs[0]["response_bytes"],
        }
        for name, rs in rounds.items()
    }
    return {
        "rounds": rounds,
        "summary": summary,
        "ratio_rounds": ratios,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "target_ratio": TARGET_RATIO,
        "ok": statistics.median(ratios) >= TARGET_RATIO,
    }


def check_feed(tether_srv: Server) -> dict[str, Any]:
    """Is there a decision list endpoint (the console's feed)? Not built: say so."""
    status, raw = tether_srv.get("/openapi.json")
    paths = json.loads(raw).get("paths", {}) if status == 200 else {}
    listed = "get" in paths.get("/v1/decisions", {})
    if not listed:
        return {
            "status": "not built",
            "why": "no GET /v1/decisions (list) in the server's /openapi.json, and the "
            "console is not built: nothing to measure",
            "target_ms": TARGET_FEED_MS,
        }
    return {
        "status": "not measured",
        "why": "GET /v1/decisions exists, but this script does not yet fill a store with "
        "1,000,000 decisions",
        "target_ms": TARGET_FEED_MS,
    }


# =========================================================================================
# Driver
# =========================================================================================


def render(result: dict[str, Any], args: argparse.Namespace, console: Console) -> None:
    h = result["http"]
    s = h["summary"]
    table = Table(
        title=f"tether serve vs bare FastAPI ({args.bare_endpoint} endpoint), "
        f"POST /v1/decisions, {args.workers} worker(s) each, {args.concurrency} keep-alive "
        f"connections, {args.rounds} rounds x {args.requests:,} requests per server"
    )
    for col in ("metric", "tether (durable)", "bare FastAPI", "tether / bare", "target"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    ok = "[green]met[/]" if h["ok"] else "[red]missed[/]"
    table.add_row(
        "throughput (req/s, median of rounds)",
        f"{s['tether']['rps_median']:,.0f}",
        f"{s['bare']['rps_median']:,.0f}",
        f"{h['ratio_median']:.0%} ({h['ratio_min']:.0%}-{h['ratio_max']:.0%})",
        f"≥ {TARGET_RATIO:.0%}: {ok}",
    )
    for key, label in (("p50_us", "latency p50 (ms)"), ("p99_us", "latency p99 (ms)")):
        t, b = s["tether"][key], s["bare"][key]
        table.add_row(label, f"{t / 1000:.2f}", f"{b / 1000:.2f}", f"{t / b:.1f}x", "—")
    t, b = (s[k]["server_cpu_us_per_request"] for k in ("tether", "bare"))
    table.add_row("server CPU per request (µs)", f"{t:,.0f}", f"{b:,.0f}", f"{t / b:.1f}x", "—")
    f = result["feed"]
    table.add_row(
        "decision feed, 1M decisions, first page",
        f["status"],
        "—",
        "—",
        f"≤ {TARGET_FEED_MS:.0f} ms",
    )
    console.print(table)
    console.print(f"decision feed: {f['why']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="tether server benchmark (issue 6): decisions over HTTP against a bare "
        "FastAPI endpoint, same client, same run; decision feed (not built)."
    )
    p.add_argument("--quick", action="store_true", help="smoke run, about a minute")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 10)")
    p.add_argument(
        "--requests", type=int, default=None, help="timed requests per server per round (3,000)"
    )
    p.add_argument("--concurrency", type=int, default=16, help="client connections (16)")
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed requests per connection per round (5)"
    )
    p.add_argument(
        "--bare-endpoint", choices=("async", "sync"), default="async",
        help="the anchor's endpoint: 'async def' (like tether's, the default) or 'def'",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes of each server (1)"
    )
    p.add_argument("--workdir", default=None, help="where the temporary home goes")
    p.add_argument("--keep", action="store_true", help="keep the temporary home and logs")
    p.add_argument("--no-save", action="store_true", help="don't write bench/results/")
    p.add_argument("--note", default="", help="free text stored in the JSON")
    p.add_argument("--_bare", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    defaults = {
        "rounds": 4 if args.quick else 10,
        "requests": 1_500 if args.quick else 3_000,
        "warmup": 3 if args.quick else 5,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.rounds < 1 or args.concurrency < 1 or args.requests < args.concurrency:
        p.error("need --rounds >= 1, --concurrency >= 1 and --requests >= --concurrency")
    return args


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(v) for v in value]
    return value


def _versions(names: Sequence[str]) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._bare is not None:
        return bare_child(args._bare, args.bare_endpoint, args.workers)
    console = Console(width=None if sys.stdout.isatty() else 160)
    log = Console(stderr=True, highlight=False, markup=False)
    started = dt.datetime.now(dt.UTC)
    load_at_start = os.getloadavg()
    git = git_info()
    base = Path(args.workdir) if args.workdir else None
    workdir = Path(tempfile.mkdtemp(prefix="tether-bench-server-", dir=base))
    servers: list[Server] = []
    try:
        token = prepare_home(workdir / "home")
        tether_srv = start_tether(workdir / "home", workdir, args.workers)
        bare = start_bare(workdir, args.bare_endpoint, args.workers)
        servers += [tether_srv, bare]
        ready = {
            "tether_s": tether_srv.wait_ready("/readyz"),
            "bare_s": bare.wait_ready("/healthz"),
        }
        log.print(f"servers ready: tether :{tether_srv.port}, bare :{bare.port} ({ready})")
        result = {
            "http": bench_http(tether_srv, bare, token, args, log),
            "feed": check_feed(tether_srv),
            "startup": ready,
        }
    finally:
        for srv in servers:
            srv.stop()
        if args.keep:
            log.print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    render(result, args, console)
    meta: dict[str, Any] = {
        "benchmark": "server (issue 6): decisions over HTTP vs a bare FastAPI endpoint; feed",
        "date": started.isoformat(timespec="seconds"),
        "machine": machine_info(
            **_versions(["fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy"])
        ),
        "git": git,
        "note": args.note,
        "quick": args.quick,
        "options": {k: v for k, v in vars(args).items() if not k.startswith("_")},
        "client": "threads with one keep-alive http.client.HTTPConnection each (closed loop)",
        "definitions": DEFINITIONS,
        "policy": POLICY,
        "tether_module": str(Path(tether.__file__).resolve().parent),
    }
    meta["machine"]["load_avg_at_start"] = load_at_start
    meta["machine"]["load_avg_at_end"] = os.getloadavg()
    out = _no_nan({**meta, **result})
    if not args.no_save:
        save_results("server", started.strftime("%Y-%m-%dT%H%M"), out, args.quick, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
