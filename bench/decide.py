"""Policy decision benchmark (W1, the policy step): tether's ``Policy.evaluate`` side by side
with the engines of the reference ``benchmarks.md`` (section W1).

The scenario is ``examples/w1``: 20 rules (5 permits, 7 hard denies, 8 approvals),
deny > require_approval > allow, default deny, over 2,000 seeded requests. Engines:

1. ``tether``: ``Policy.from_file(examples/w1/policy.yaml).evaluate(request)``.
   Target: median <= 25 us, p99 <= 60 us.
2. ``python``: ``w1.reference``, the rules as a plain Python function (the floor).
3. ``cel``: the anchor. All 20 rules in ONE ``cel.compile`` program (package ``cel``,
   ``common-expression-language``) given the whole nested request as its input, the
   deny > approval > allow / default-deny logic applied in Python to its list of
   booleans (the reference measured 22 us median, 34-55 us p99).
4. ``agt_engine`` / ``agt_govern``: Microsoft's Agent Governance Toolkit 5.0
   (``agent-governance-toolkit-core``): its YAML ``PolicyEngine.evaluate`` and
   ``govern()``, run in a subprocess with the toolkit's own virtualenv (see
   ``decide_agt.py``). Target: tether's median >= 5x lower than ``PolicyEngine``'s. If
   the toolkit can't be installed or run, the reference figures (192 us / 277 us) are
   shown instead, marked as not measured.

Every engine is first checked against ``w1.reference`` on all 2,000 requests (effects;
and rule ids where the engine reports them). Then each times ``--decisions`` calls
(default 20,000, cycling the requests) one by one with ``time.perf_counter_ns``,
including the conversion of the request into the engine's input, in alternating rounds.
The machine is small and noisy: compare the ratios.

Then the whole pipeline (``decide_pipeline.py`` sets it up): each request through
``t.decide(...)`` with input guardrails and one durable ledger record, on SQLite.

5. One caller, alternating rounds with a bare SQLite ``INSERT`` + ``COMMIT`` of a row of
   the same size (WAL, ``synchronous=FULL``: the fsync floor). Target: added latency
   (tether's median minus the anchor's) <= 60 us. Also per-stage medians, and the same
   figures for allow/deny requests alone (a ``require_approval`` verdict also writes
   the approval: a second durable append).
6. 32 concurrent callers (threads calling ``t.decide``; asyncio tasks awaiting
   ``pipeline.execute_async``, and ``pipeline.decide_async`` where tether has it),
   group commit. Target: >= 10,000 durable decisions/s.
   Context: one ``executemany`` of the same rows in one transaction.
7. Against AGT ``govern()`` (in-memory audit only), in the same rounds: tether's
   in-process overhead while recording durably (its median minus the fsync floor),
   and tether with ``durability="async"``. Target: >= 5x lower.

Run ``python bench/decide.py --help``; results go to ``bench/results/``. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import cel
from decide_agt import W1_PATH, load_w1, time_calls
from decide_pipeline import STAGES, PipelineBench, describe_guardrails
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger import _filesystem, git_info, machine_info, save_results
from tether.policy import Policy

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
AGT_CHILD = BENCH / "decide_agt.py"
SEED = 20260101
REQUESTS = 2000

# -- targets (issue W1, policy step) ----------------------------------------------------
TARGET_MEDIAN_US = 25.0
TARGET_P99_US = 60.0
TARGET_AGT_FACTOR = 5.0  # AGT PolicyEngine median / tether median
# -- targets (issue W1, whole pipeline) -------------------------------------------------
TARGET_ADDED_US = 60.0  # tether decide (durable) median - bare INSERT+COMMIT median
TARGET_RATE = 10_000.0  # durable decisions/s, 32 callers
TARGET_OVERHEAD_FACTOR = 5.0  # AGT govern() median / tether's in-process overhead

# -- the toolkit: where it lives and what to install --------------------------------------
AGT_ENV = "TETHER_BENCH_AGT_PYTHON"
AGT_VENV = Path("/tmp/tether-bench-agt")
AGT_REQUIREMENT = "agent-governance-toolkit-core==5.0.0"

# Figures from the reference benchmarks.md (W1), same-sized machine: (median, p99) in us.
REFERENCE_US: dict[str, tuple[float, str]] = {
    "python": (0.7, "1.5"),
    "cel": (22.0, "34-55"),
    "agt_engine": (192.0, "330-360"),
    "agt_govern": (277.0, "530-610"),
}

ENGINE_LABELS = {
    "tether": "tether Policy.evaluate",
    "python": "plain Python reference (floor)",
    "cel": "CEL, all 20 rules in one program",
    "agt_engine": "AGT PolicyEngine.evaluate",
    "agt_govern": "AGT govern() (in-memory audit)",
}
SHORT_LABELS = {
    "tether": "tether",
    "python": "plain Python",
    "cel": "CEL one program",
    "agt_engine": "AGT PolicyEngine",
    "agt_govern": "AGT govern()",
}
EFFECTS = ("allow", "deny", "require_approval")


# =======================================================================================
# The anchor: the W1 rules as one CEL program over the whole request
# =======================================================================================

_PROD = 'context.env == "prod"'
CEL_RULES: list[tuple[str, str, str]] = [
    (
        "P-support_agent",
        "allow",
        'actor.role == "support_agent" && action.name in '
        '["search_kb", "read_ticket", "update_ticket", "send_email"]',
    ),
    (
        "P-finance_agent",
        "allow",
        'actor.role == "finance_agent" && action.name in '
        '["read_invoice", "create_refund", "issue_payment"]',
    ),
    (
        "P-ops_agent",
        "allow",
        'actor.role == "ops_agent" && action.name in '
        '["read_logs", "restart_service", "scale_service", "deploy"]',
    ),
    (
        "P-analyst_agent",
        "allow",
        'actor.role == "analyst_agent" && action.name in '
        '["run_query", "read_logs", "export_report"]',
    ),
    ("P-admin", "allow", 'actor.role == "admin"'),
    ("D1", "deny", 'action.name in ["drop_table", "delete_customer"]'),
    ("D2", "deny", "actor.suspended"),
    ("D3", "deny", 'action.name == "create_refund" && action.args.amount > 10000.0'),
    (
        "D4",
        "deny",
        f'action.name == "issue_payment" && {_PROD} && (context.hour < 8 || context.hour >= 18)',
    ),
    ("D5", "deny", "context.risk_score > 0.95"),
    (
        "D6",
        "deny",
        f'action.name == "deploy" && {_PROD} && (context.hour < 9 || context.hour >= 17)',
    ),
    ("D7", "deny", 'action.name == "scale_service" && action.args.replicas > 50'),
    ("A1", "require_approval", 'action.name == "create_refund" && action.args.amount > 1000.0'),
    ("A2", "require_approval", 'action.name == "issue_payment" && action.args.amount > 500.0'),
    ("A3", "require_approval", "context.risk_score > 0.8"),
    ("A4", "require_approval", f'action.name == "deploy" && {_PROD}'),
    (
        "A5",
        "require_approval",
        'action.name == "send_email" && !action.args.to.endsWith("@example.com")',
    ),
    ("A6", "require_approval", 'action.name == "export_report" && action.args.contains_pii'),
    ("A7", "require_approval", f'action.name == "restart_service" && {_PROD}'),
    (
        "A8",
        "require_approval",
        f'action.name == "run_query" && {_PROD} && action.args.rows_estimate > 100000',
    ),
]


def cel_anchor() -> Callable[[dict[str, Any]], tuple[str, list[str]]]:
    """One ``cel.compile`` program returning 20 booleans; the outcome logic in Python."""
    program = cel.compile("[" + ", ".join(f"({expr})" for _, _, expr in CEL_RULES) + "]")
    rules = [(rule_id, effect) for rule_id, effect, _ in CEL_RULES]
    execute = program.execute

    def decide(request: dict[str, Any]) -> tuple[str, list[str]]:
        hits = execute(request)
        deny: list[str] = []
        approve: list[str] = []
        permit: list[str] = []
        for (rule_id, effect), hit in zip(rules, hits, strict=True):
            if hit:
                if effect == "deny":
                    deny.append(rule_id)
                elif effect == "require_approval":
                    approve.append(rule_id)
                else:
                    permit.append(rule_id)
        if deny:
            return "deny", deny
        if not permit:
            return "deny", ["tether:default-deny"]
        if approve:
            return "require_approval", approve
        return "allow", permit

    return decide


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
        "p90_us": pct(us, 90),
        "p99_us": pct(us, 99),
        "p999_us": pct(us, 99.9),
        "mean_us": statistics.fmean(us),
        "min_us": min(us),
        "max_us": max(us),
    }


def fmt_us(us: float) -> str:
    if math.isnan(us):
        return "—"
    if us >= 10_000:
        return f"{us / 1000:,.2f} ms"
    if us >= 100:
        return f"{us:,.0f} µs"
    return f"{us:,.1f} µs"


def fmt_range(lo: float, hi: float) -> str:
    return f"{lo:,.0f}-{hi:,.0f}" if lo >= 100 else f"{lo:.1f}-{hi:.1f}"


# =======================================================================================
# Engines
# =======================================================================================


@dataclass
class Engine:
    """One engine: where it runs, its check against the reference, its samples."""

    name: str
    where: str
    status: str = "ok"  # ok | failed (check) | unavailable
    reason: str = ""
    check: dict[str, Any] = field(default_factory=dict)
    rounds: list[list[int]] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return self.status != "unavailable" and bool(self.rounds)

    def pooled(self) -> list[int]:
        return [s for samples in self.rounds for s in samples]


def check_engine(
    outcomes: Sequence[tuple[str, Sequence[str] | str | None]],
    reference: Sequence[tuple[str, list[str]]],
    *,
    rules: str,
) -> dict[str, Any]:
    """Compare outcomes with the reference's. ``rules``: "all" (the same deciding rule
    ids), "one" (the engine names one winning rule: it must be one of the reference's) or
    "none" (effects only)."""
    effect_bad: list[dict[str, Any]] = []
    rules_bad = 0
    rules_checked = 0
    for i, ((effect, got), (want_effect, want_rules)) in enumerate(
        zip(outcomes, reference, strict=True)
    ):
        if effect != want_effect:
            effect_bad.append(
                {"request": i, "got": [effect, got], "reference": [want_effect, want_rules]}
            )
            continue
        if rules == "all":
            rules_checked += 1
            rules_bad += list(got or []) != want_rules
        elif rules == "one" and got is not None:
            rules_checked += 1
            # AGT has no "no rule matched" outcome here: its N-<role> deny rules stand in
            # for tether's default deny.
            name = "tether:default-deny" if str(got).startswith("N-") else got
            rules_bad += name not in want_rules
    return {
        "requests": len(reference),
        "effect_mismatches": len(effect_bad),
        "rule_ids_compared": rules,
        "rule_checked": rules_checked,
        "rule_mismatches": rules_bad,
        "first_mismatches": effect_bad[:10],
        "passed": not effect_bad,
    }


class AgtChild:
    """The toolkit's side: ``decide_agt.py`` running with the toolkit's python."""

    def __init__(self, python: Path, w1_path: Path, seed: int, count: int) -> None:
        command = [str(python), str(AGT_CHILD), "--w1", str(w1_path), "--seed", str(seed)]
        self.proc = subprocess.Popen(
            [*command, "--count", str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
        )
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"AGT child exited: {err.strip()[-2000:]}")
        result: dict[str, Any] = json.loads(line)
        return result

    def time(self, engine: str, n: int, warmup: int) -> list[int]:
        assert self.proc.stdin is not None
        cmd = {"cmd": "time", "engine": engine, "n": n, "warmup": warmup}
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        samples: list[int] = self._read()["samples"]
        return samples

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.write('{"cmd": "quit"}\n')
            self.proc.stdin.flush()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def find_agt_python(args: argparse.Namespace, log: Console) -> tuple[Path | None, str]:
    """The toolkit's python, installing it into its own venv if need be: (path, why not)."""
    if args.agt_python:
        python = Path(args.agt_python)
        return (python, "") if python.exists() else (None, f"--agt-python {python}: not found")
    env = os.environ.get(AGT_ENV)
    if env:
        python = Path(env)
        return (python, "") if python.exists() else (None, f"${AGT_ENV}={python}: not found")
    python = AGT_VENV / "bin" / "python"
    if python.exists() and _has_agt(python):
        return python, ""
    log.print(f"installing {AGT_REQUIREMENT} into its own venv {AGT_VENV} (once)...")
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(AGT_VENV)],
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", AGT_REQUIREMENT],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-5:]
        return None, f"`pip install {AGT_REQUIREMENT}` failed: " + " | ".join(tail)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not create {AGT_VENV}: {exc}"
    if not _has_agt(python):
        return None, f"{AGT_REQUIREMENT} installed but `agentmesh.governance` does not import"
    return python, ""


def _has_agt(python: Path) -> bool:
    probe = "import agentmesh.governance as g; g.PolicyEngine; g.govern"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            [str(python), "-W", "ignore", "-c", probe], capture_output=True, timeout=120
        )
        return done.returncode == 0
    return False


def clock_overhead_ns() -> float:
    """Median ns of timing an empty call with the same loop (not subtracted anywhere)."""
    samples = time_calls(lambda request: None, [None], 20_000, 1000)
    return float(statistics.median(samples))


# =======================================================================================
# Metrics
# =======================================================================================


@dataclass
class Metric:
    group: str
    name: str
    tether: str
    anchor: str
    ratio: str
    target: str
    passed: bool | None
    data: dict[str, Any] = field(default_factory=dict)


def engine_stats(engine: Engine, effects: Sequence[str]) -> dict[str, Any]:
    """Pooled and per-round figures, and medians by outcome (sample i is request i % n)."""
    pooled = engine.pooled()
    per_round = [summary_us(r) for r in engine.rounds]
    count = len(effects)
    by_effect: dict[str, float] = {}
    for effect in EFFECTS:
        picked = [s for r in engine.rounds for i, s in enumerate(r) if effects[i % count] == effect]
        if picked:
            by_effect[effect] = statistics.median(picked) / 1000
    return {
        **summary_us(pooled),
        "round_medians_us": [r["median_us"] for r in per_round],
        "round_p99_us": [r["p99_us"] for r in per_round],
        "median_by_effect_us": by_effect,
    }


def round_ratio(a: Engine, b: Engine, key: str = "median") -> tuple[float, list[float]]:
    """Median of per-round ratios a/b of the round medians (or p99 with key="p99")."""
    q = 50 if key == "median" else 99
    ratios = [
        pct([s / 1000 for s in ra], q) / pct([s / 1000 for s in rb], q)
        for ra, rb in zip(a.rounds, b.rounds, strict=True)
    ]
    return statistics.median(ratios), ratios


def build_metrics(engines: dict[str, Engine], stats: dict[str, dict[str, Any]]) -> list[Metric]:
    metrics: list[Metric] = []
    tether = engines["tether"]
    ts = stats.get("tether")

    # -- the check
    for name, engine in engines.items():
        if engine.status == "unavailable":
            continue
        c = engine.check
        ok = c["requests"] - c["effect_mismatches"]
        rules = (
            f"; rule ids {c['rule_checked'] - c['rule_mismatches']:,}/{c['rule_checked']:,}"
            if c["rule_ids_compared"] != "none"
            else ""
        )
        text = f"{ok:,}/{c['requests']:,} effects{rules}"
        metrics.append(
            Metric(
                "check",
                f"{SHORT_LABELS[name]} agrees with the reference",
                text if name == "tether" else "—",
                "—" if name == "tether" else text,
                "—",
                "0 mismatches",
                c["passed"],
                {"engine": name, **c},
            )
        )
    if ts is None:
        return metrics

    # -- tether against the one-program CEL anchor and the floor
    cel_engine = engines["cel"]
    cs = stats["cel"]
    r_med, r_med_rounds = round_ratio(tether, cel_engine)
    r_p99, r_p99_rounds = round_ratio(tether, cel_engine, "p99")
    metrics += [
        Metric(
            "latency",
            "decision, median",
            fmt_us(ts["median_us"]),
            f"{fmt_us(cs['median_us'])} (CEL, one program)",
            f"{r_med:.2f}x",
            f"≤ {TARGET_MEDIAN_US:.0f} µs",
            ts["median_us"] <= TARGET_MEDIAN_US and tether.status == "ok",
            {"ratio_per_round": r_med_rounds},
        ),
        Metric(
            "latency",
            "decision, p99",
            fmt_us(ts["p99_us"]),
            f"{fmt_us(cs['p99_us'])} (CEL, one program)",
            f"{r_p99:.2f}x",
            f"≤ {TARGET_P99_US:.0f} µs",
            ts["p99_us"] <= TARGET_P99_US and tether.status == "ok",
            {"ratio_per_round": r_p99_rounds},
        ),
    ]
    ps = stats["python"]
    f_med, f_rounds = round_ratio(tether, engines["python"])
    metrics.append(
        Metric(
            "latency",
            "decision, median, vs the plain Python floor",
            fmt_us(ts["median_us"]),
            f"{fmt_us(ps['median_us'])} (plain Python)",
            f"{f_med:.1f}x",
            "—",
            None,
            {"ratio_per_round": f_rounds},
        )
    )

    # -- the toolkit
    for name in ("agt_engine", "agt_govern"):
        engine = engines[name]
        label = SHORT_LABELS[name]
        target = f"≥ {TARGET_AGT_FACTOR:.0f}x" if name == "agt_engine" else "—"
        if engine.measured:
            s = stats[name]
            factor, rounds = round_ratio(engine, tether)
            p99_factor, p99_rounds = round_ratio(engine, tether, "p99")
            passed = factor >= TARGET_AGT_FACTOR if name == "agt_engine" else None
            metrics += [
                Metric(
                    "agt",
                    f"median, tether vs {label}",
                    fmt_us(ts["median_us"]),
                    fmt_us(s["median_us"]),
                    f"{factor:.1f}x lower",
                    target,
                    passed,
                    {"agt_over_tether_per_round": rounds},
                ),
                Metric(
                    "agt",
                    f"p99, tether vs {label}",
                    fmt_us(ts["p99_us"]),
                    fmt_us(s["p99_us"]),
                    f"{p99_factor:.1f}x lower",
                    "—",
                    None,
                    {"agt_over_tether_per_round": p99_rounds},
                ),
            ]
        else:
            ref_median, ref_p99 = REFERENCE_US[name]
            factor = ref_median / ts["median_us"]
            metrics.append(
                Metric(
                    "agt",
                    f"median, tether vs {label} [REFERENCE FIGURE, not measured]",
                    fmt_us(ts["median_us"]),
                    f"{fmt_us(ref_median)} (p99 {ref_p99} µs), reference",
                    f"{factor:.1f}x lower (vs reference)",
                    target,
                    None,
                    {"reference_only": True, "why_not_measured": engine.reason},
                )
            )
    return metrics


# =======================================================================================
# The whole pipeline: one caller against the fsync floor, 32 callers, and AGT govern()
# =======================================================================================

PIPE_LABELS = {
    "anchor": "bare SQLite INSERT+COMMIT, same row (fsync floor)",
    "ledger": "tether ledger.append of the same record (durable)",
    "tether": "tether t.decide, durable record",
    "tether_async": "tether t.decide, durability=async",
    "agt_govern": "AGT govern() (in-memory audit)",
}
PIPE_ORDER = (
    "anchor",
    "agt_govern",
    "ledger",
    "tether_async",
    "tether",
)  # anchors first on even rounds
CONCURRENT_LABELS = {
    "threads": "{n} threads, t.decide",
    "tasks": "{n} asyncio tasks, pipeline.execute_async",
    "decide_async": "{n} asyncio tasks, pipeline.decide_async",  # where tether has it
}
SUBSETS = {"all": "all requests", "ad": "allow/deny only"}


StageRow = tuple[Mapping[str, int], int, bool]  # (latency_us, wall ns, allow/deny request)


@dataclass
class PipelineRun:
    """Everything measured on the whole pipeline (raw; statistics are computed later)."""

    info: dict[str, Any]
    engines: dict[str, Engine]
    stages: dict[str, list[StageRow]]
    outcomes: dict[str, Counter[str]]
    concurrent: dict[str, list[dict[str, Any]]]  # "threads:all" -> one dict per round
    anchor_rates: dict[str, list[float]]  # "all" / "ad" -> executemany rows/s per round
    keep: list[bool]  # request i is allow or deny (not require_approval) in the reference
    cold: dict[str, list[int]]  # the policy step and breaker read, hot / after an fsync


def run_pipeline(
    args: argparse.Namespace,
    w1: ModuleType,
    requests: Sequence[dict[str, Any]],
    effects: Sequence[str],
    child: AgtChild | None,
    agt_engine: Engine,
    log: Console,
) -> PipelineRun:
    """Set up the tethers and the anchor, check, then time in alternating rounds."""
    workdir = Path(tempfile.mkdtemp(prefix="tether-bench-decide-", dir=args.workdir))
    log.print(f"pipeline: tethers and anchor in {workdir}")
    bench = PipelineBench(workdir, w1, requests)
    try:
        return _run_pipeline(args, bench, requests, effects, child, agt_engine, workdir, log)
    finally:
        bench.close()
        if args.keep:
            log.print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run_pipeline(
    args: argparse.Namespace,
    bench: PipelineBench,
    requests: Sequence[dict[str, Any]],
    effects: Sequence[str],
    child: AgtChild | None,
    agt_engine: Engine,
    workdir: Path,
    log: Console,
) -> PipelineRun:
    check = bench.check(effects)
    engines = {
        "anchor": Engine("anchor", "in-process (sqlite3)"),
        "ledger": Engine("ledger", "in-process"),
        "tether": Engine("tether", "in-process"),
        "tether_async": Engine("tether_async", "in-process"),
        "agt_govern": Engine(
            "agt_govern",
            agt_engine.where,
            status=agt_engine.status,
            reason=agt_engine.reason,
            check=agt_engine.check,
        ),
    }
    for name, which in (("tether", "durable"), ("tether_async", "async")):
        c = check[which]
        engines[name].check = c
        log.print(
            f"check pipeline {which}: {c['effect_mismatches']} effect mismatches, "
            f"{c['internal_errors']} internal errors; outcomes {c['outcomes']}"
        )
        for bad in c["first_mismatches"][:3]:
            log.print(f"  MISMATCH pipeline {which}: {bad}")
        if not c["passed"]:
            engines[name].status = "failed"
            engines[
                name
            ].reason = (
                f"{c['effect_mismatches']} effect mismatches, {c['internal_errors']} internal"
            )
    if child is None or engines["agt_govern"].status == "unavailable":
        engines["agt_govern"].status = "unavailable"
    stages: dict[str, list[StageRow]] = {"tether": [], "tether_async": []}
    keep = [e != "require_approval" for e in effects]
    count = len(effects)
    outcomes: dict[str, Counter[str]] = {"tether": Counter(), "tether_async": Counter()}

    # -- one caller
    order = [n for n in PIPE_ORDER if engines[n].status != "unavailable"]
    per_round = args.pipeline_decisions // args.rounds
    warmup = args.pipeline_warmup
    for rnd in range(args.rounds):
        for name in order if rnd % 2 == 0 else order[::-1]:
            if name == "anchor":
                engines[name].rounds.append(bench.time_anchor(per_round, warmup))
            elif name == "ledger":
                engines[name].rounds.append(bench.time_ledger(per_round, warmup))
            elif name == "agt_govern":
                assert child is not None
                engines[name].rounds.append(child.time("agt_govern", per_round, warmup))
            else:
                timed = bench.time_tether(
                    "durable" if name == "tether" else "async", per_round, warmup
                )
                engines[name].rounds.append(timed.samples)
                stages[name] += [
                    (st, wall, keep[i % count])
                    for i, (st, wall) in enumerate(zip(timed.stages, timed.samples, strict=True))
                ]
                outcomes[name].update(timed.outcomes)
        line = ", ".join(
            f"{n} {statistics.median(engines[n].rounds[-1]) / 1000:.0f}" for n in order
        )
        log.print(f"pipeline round {rnd + 1}/{args.rounds} medians (µs): {line}")

    # -- context: the policy step alone, hot and right after an fsync
    cold = bench.cold_probe(requests, min(2000, per_round))
    log.print(
        "policy step alone (µs): "
        + ", ".join(f"{k} {statistics.median(v) / 1000:.1f}" for k, v in cold.items())
    )

    # -- many callers
    picked = {"all": list(range(len(effects))), "ad": [i for i, k in enumerate(keep) if k]}
    callers, per_caller = args.callers, args.per_caller
    total = callers * per_caller
    kinds = [k for k in CONCURRENT_LABELS if k != "decide_async" or bench.has_decide_async()]
    concurrent: dict[str, list[dict[str, Any]]] = {
        f"{kind}:{sub}": [] for sub in SUBSETS for kind in kinds
    }
    anchor_rates: dict[str, list[float]] = {sub: [] for sub in SUBSETS}
    jobs: list[tuple[str, Callable[[int], None]]] = []
    for sub in SUBSETS:
        jobs.append(
            (
                f"anchor:{sub}",
                lambda off, sub=sub: anchor_rates[sub].append(
                    bench.anchor_batch(picked[sub], total, off)
                ),
            )
        )
        for kind in kinds:
            run = {"threads": bench.threads, "tasks": bench.tasks}.get(kind, bench.decide_tasks)
            jobs.append(
                (
                    f"{kind}:{sub}",
                    lambda off, run=run, key=f"{kind}:{sub}", sub=sub: concurrent[key].append(
                        run(picked[sub], callers, per_caller, off)
                    ),
                )
            )
    for rnd in range(args.rounds):
        for _, job in jobs if rnd % 2 == 0 else jobs[::-1]:
            job(rnd * total)
        line = ", ".join(
            f"{key} {rounds[-1]['rate']:,.0f}/s (batch {rounds[-1]['mean_batch'] or 0:.1f})"
            for key, rounds in concurrent.items()
        )
        anchors = ", ".join(f"{sub} {rates[-1]:,.0f}/s" for sub, rates in anchor_rates.items())
        log.print(f"concurrent round {rnd + 1}/{args.rounds}: {line}; executemany {anchors}")

    info = {
        "workdir": str(workdir),
        "sqlite_version": sqlite3.sqlite_version,
        "filesystem": _filesystem(workdir),
        "guardrails": describe_guardrails(),
        "actors": "agent:<role> and agent:<role>-suspended for each of the 6 W1 roles",
        "check": check,
        "row_sizes": bench.row_sizes(),
        "decisions_per_round": per_round,
        "warmup_per_round": warmup,
        "callers": callers,
        "per_caller": per_caller,
        "settings": {
            name: {
                "durability": str(t.settings.durability),
                "cache_seconds": t.settings.cache_seconds,
                "checkpoint_every": t.settings.checkpoint_every,
                "database": "SQLite (default), WAL",
            }
            for name, t in bench.tethers.items()
        },
        "ledger_size_at_end": {name: t.ledger.size for name, t in bench.tethers.items()},
    }
    return PipelineRun(info, engines, stages, outcomes, concurrent, anchor_rates, keep, cold)


def subset(engine: Engine, keep: Sequence[bool]) -> Engine:
    """The same engine with only the samples of the requests ``keep`` says (i % n)."""
    n = len(keep)
    rounds = [[s for i, s in enumerate(r) if keep[i % n]] for r in engine.rounds]
    return Engine(engine.name, engine.where, engine.status, engine.reason, engine.check, rounds)


def round_medians_us(engine: Engine) -> list[float]:
    return [statistics.median(r) / 1000 for r in engine.rounds]


EXTRA_STAGES = {
    "before_record": "total - record, allow/deny only",
    "outside": "wall - total (outside the stage timers)",
}


def stage_stats(rows: Sequence[StageRow]) -> dict[str, dict[str, float]]:
    """Median and p99 of each stage's latency (µs, as the pipeline reports it: whole
    µs) over the decisions that went through that stage, and the share of those. Also
    ``before_record`` (everything but the record, for allow/deny requests: no approval
    either) and ``outside`` (the timed call minus the pipeline's own total)."""
    picked: dict[str, list[float]] = {
        stage: [s[stage] for s, _, _ in rows if stage in s] for stage in (*STAGES, "total")
    }
    picked["before_record"] = [
        s["total"] - s["record"] for s, _, keep in rows if keep and "record" in s
    ]
    picked["outside"] = [wall / 1000 - s["total"] for s, wall, _ in rows if "total" in s]
    out: dict[str, dict[str, float]] = {}
    for stage, values in picked.items():
        if values:
            out[stage] = {
                "median_us": statistics.median(values),
                "p99_us": pct(values, 99),
                "mean_us": statistics.fmean(values),
                "share": len(values) / len(rows),
            }
    return out


def pipeline_stats(run: PipelineRun, effects: Sequence[str]) -> dict[str, Any]:
    """Per-engine figures (all requests and allow/deny only), stages, concurrency."""
    engines: dict[str, Any] = {}
    for name, engine in run.engines.items():
        if not engine.measured:
            continue
        ad = subset(engine, run.keep)
        engines[name] = {
            **engine_stats(engine, effects),
            "allow_deny": {**summary_us(ad.pooled()), "round_medians_us": round_medians_us(ad)},
        }
    concurrent: dict[str, Any] = {}
    for key, rounds in run.concurrent.items():
        sub = key.split(":")[1]
        rates = [r["rate"] for r in rounds]
        anchors = run.anchor_rates[sub]
        batches = [r["mean_batch"] for r in rounds if r["mean_batch"] is not None]
        outcomes: Counter[str] = Counter()
        for r in rounds:
            outcomes.update(r["outcomes"])
        concurrent[key] = {
            "rate_median": statistics.median(rates),
            "rates": rates,
            "mean_batch": statistics.fmean(batches) if batches else None,
            "mean_batch_per_round": batches,
            "anchor_rate_median": statistics.median(anchors),
            "anchor_rates": anchors,
            "share_of_anchor": statistics.median(
                [r / a for r, a in zip(rates, anchors, strict=True)]
            ),
            "outcomes": dict(outcomes),
            "rounds": rounds,
        }
    return {
        "engines": engines,
        "stages": {name: stage_stats(s) for name, s in run.stages.items()},
        "outcomes": {name: dict(c) for name, c in run.outcomes.items()},
        "concurrent": concurrent,
        "cold": {name: summary_us(samples) for name, samples in run.cold.items()},
    }


def _differences(a: Engine, b: Engine) -> list[float]:
    """Per round: median of a minus median of b (µs)."""
    return [x - y for x, y in zip(round_medians_us(a), round_medians_us(b), strict=True)]


def pipeline_metrics(run: PipelineRun, stats: dict[str, Any], callers: int) -> list[Metric]:
    metrics: list[Metric] = []
    engines = run.engines
    for name in ("tether", "tether_async"):
        c = engines[name].check
        metrics.append(
            Metric(
                "pipeline",
                f"{PIPE_LABELS[name]}: agrees with the reference",
                f"{c['requests'] - c['effect_mismatches']:,}/{c['requests']:,} effects; "
                f"{c['internal_errors']} internal errors",
                "—",
                "—",
                "0 mismatches",
                c["passed"],
                {"engine": name, **c},
            )
        )
    tether, anchor = engines["tether"], engines["anchor"]
    if not tether.measured or not anchor.measured:
        return metrics
    es = stats["engines"]

    # -- one caller: added latency over the fsync floor
    views = {"all": (tether, anchor), "ad": (subset(tether, run.keep), subset(anchor, run.keep))}
    for sub, (t_e, a_e) in views.items():
        diffs = _differences(t_e, a_e)
        added = statistics.median(diffs)
        ratio, ratios = round_ratio(t_e, a_e)
        t_med = statistics.median(t_e.pooled()) / 1000
        a_med = statistics.median(a_e.pooled()) / 1000
        metrics.append(
            Metric(
                "pipeline",
                f"decide, 1 caller, median, {SUBSETS[sub]}: added over the bare commit",
                fmt_us(t_med),
                f"{fmt_us(a_med)} (INSERT+COMMIT)",
                f"+{added:,.0f} µs ({ratio:.2f}x)",
                f"≤ +{TARGET_ADDED_US:.0f} µs",
                added <= TARGET_ADDED_US and tether.status == "ok",
                {"added_us_per_round": diffs, "added_us": added, "ratio_per_round": ratios},
            )
        )
    ledger = engines["ledger"]
    if ledger.measured:
        diffs = _differences(ledger, anchor)
        ratio, ratios = round_ratio(ledger, anchor)
        metrics.append(
            Metric(
                "pipeline",
                "context: ledger.append of the same record (no pipeline) over the bare commit",
                fmt_us(statistics.median(ledger.pooled()) / 1000),
                fmt_us(statistics.median(anchor.pooled()) / 1000),
                f"+{statistics.median(diffs):,.0f} µs ({ratio:.2f}x)",
                "—",
                None,
                {"added_us_per_round": diffs, "ratio_per_round": ratios},
            )
        )
    for what, label in (("evaluate", "Policy.evaluate"), ("breaker", "breakers.check")):
        after = stats["cold"][f"{what}_after_commit"]["median_us"]
        hot = stats["cold"][f"{what}_hot"]["median_us"]
        metrics.append(
            Metric(
                "pipeline",
                f"context: {label} alone, right after a bare fsync commit vs in a hot loop",
                fmt_us(after),
                f"{fmt_us(hot)} (hot loop)",
                f"{after / hot:.2f}x",
                "—",
                None,
                {
                    "after_commit": stats["cold"][f"{what}_after_commit"],
                    "hot": stats["cold"][f"{what}_hot"],
                },
            )
        )
    for sub in SUBSETS:
        t_s = es["tether"] if sub == "all" else es["tether"]["allow_deny"]
        a_s = es["anchor"] if sub == "all" else es["anchor"]["allow_deny"]
        t_p99, a_p99 = t_s["p99_us"], a_s["p99_us"]
        metrics.append(
            Metric(
                "pipeline",
                f"decide, 1 caller, p99, {SUBSETS[sub]}",
                fmt_us(t_p99),
                fmt_us(a_p99),
                f"+{t_p99 - a_p99:,.0f} µs ({t_p99 / a_p99:.2f}x)",
                "—",
                None,
            )
        )

    # -- many callers
    for key, cs in stats["concurrent"].items():
        kind, sub = key.split(":")
        label = CONCURRENT_LABELS[kind]
        batch = f" (mean batch {cs['mean_batch']:.1f})" if cs["mean_batch"] else ""
        metrics.append(
            Metric(
                "concurrent",
                f"{label.format(n=callers)}, durable, {SUBSETS[sub]}",
                f"{cs['rate_median']:,.0f} /s{batch}",
                f"{cs['anchor_rate_median']:,.0f} /s (executemany, 1 txn)",
                f"{cs['share_of_anchor']:.1%}",
                f"≥ {TARGET_RATE:,.0f} /s",
                cs["rate_median"] >= TARGET_RATE,
                {k: v for k, v in cs.items() if k != "rounds"},
            )
        )

    # -- against AGT govern()
    agt = engines["agt_govern"]
    t_async = engines["tether_async"]
    target = f"≥ {TARGET_OVERHEAD_FACTOR:.0f}x"
    if agt.measured:
        views_agt = {
            "all": (tether, anchor, t_async, agt),
            "ad": tuple(subset(e, run.keep) for e in (tether, anchor, t_async, agt)),
        }
        t_e, _, _, g_e = views_agt["all"]
        factor, rounds = round_ratio(g_e, t_e)
        metrics.append(
            Metric(
                "agt-pipeline",
                "AGT govern() ÷ tether decide with its durable record (fsync included), all",
                fmt_us(statistics.median(t_e.pooled()) / 1000),
                fmt_us(statistics.median(g_e.pooled()) / 1000),
                f"{factor:.2f}x",
                "—",
                None,
                {"agt_over_tether_per_round": rounds},
            )
        )
        before = stats["stages"]["tether"].get("before_record")
        if before:
            g_ad = statistics.median(views_agt["ad"][3].pooled()) / 1000
            metrics.append(
                Metric(
                    "agt-pipeline",
                    "decide without its record (total - record stage), allow/deny only, "
                    "vs AGT govern()",
                    fmt_us(before["median_us"]),
                    fmt_us(g_ad),
                    f"{g_ad / before['median_us']:.1f}x lower",
                    "—",
                    None,
                    {"before_record_us": before, "agt_allow_deny_median_us": g_ad},
                )
            )
        for sub, (t_e, a_e, s_e, g_e) in views_agt.items():
            overhead = _differences(t_e, a_e)
            g_med = round_medians_us(g_e)
            per_round = [g / o if o > 0 else math.inf for g, o in zip(g_med, overhead, strict=True)]
            f_over = statistics.median(per_round)
            metrics.append(
                Metric(
                    "agt-pipeline",
                    f"in-process overhead (durable decide - bare commit) vs AGT govern(), "
                    f"{SUBSETS[sub]}",
                    f"{statistics.median(overhead):,.0f} µs",
                    fmt_us(statistics.median(g_med)),
                    f"{f_over:.1f}x lower",
                    target,
                    f_over >= TARGET_OVERHEAD_FACTOR,
                    {"overhead_us_per_round": overhead, "agt_over_overhead_per_round": per_round},
                )
            )
            f_async, r_async = round_ratio(g_e, s_e)
            metrics.append(
                Metric(
                    "agt-pipeline",
                    f"decide with durability=async vs AGT govern(), {SUBSETS[sub]}",
                    fmt_us(statistics.median(s_e.pooled()) / 1000),
                    fmt_us(statistics.median(g_e.pooled()) / 1000),
                    f"{f_async:.1f}x lower",
                    target,
                    f_async >= TARGET_OVERHEAD_FACTOR,
                    {"agt_over_tether_async_per_round": r_async},
                )
            )
    else:
        ref = REFERENCE_US["agt_govern"][0]
        overhead = statistics.median(_differences(tether, anchor))
        s_med = statistics.median(t_async.pooled()) / 1000
        for name, value in (
            ("in-process overhead (durable decide - bare commit)", overhead),
            ("decide with durability=async", s_med),
        ):
            metrics.append(
                Metric(
                    "agt-pipeline",
                    f"{name} vs AGT govern() [REFERENCE FIGURE, not measured]",
                    fmt_us(value),
                    f"{fmt_us(ref)} (allow path), reference",
                    f"{ref / value:.1f}x lower (vs reference)",
                    target,
                    None,
                    {"reference_only": True, "why_not_measured": agt.reason},
                )
            )
    return metrics


def render_pipeline(run: PipelineRun, stats: dict[str, Any], console: Console, title: str) -> None:
    table = Table(title=title)
    for col, justify in (
        ("engine", "left"),
        ("check", "center"),
        ("median", "right"),
        ("p99", "right"),
        ("round medians", "right"),
        ("allow/deny only", "right"),
        ("allow / deny / approval", "right"),
        ("÷ anchor (median)", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    es = stats["engines"]
    anchor = es.get("anchor")
    for name in ("anchor", "ledger", "tether", "tether_async", "agt_govern"):
        engine = run.engines[name]
        if name not in es:
            table.add_row(escape(PIPE_LABELS[name]), "—", "not measured",
                          escape(engine.reason[:60]), "", "", "", "")  # fmt: skip
            continue
        s = es[name]
        check = "—" if name in ("anchor", "ledger") else (
            "[green]ok[/]" if engine.check.get("passed") else "[red]FAILED[/]"
        )  # fmt: skip
        by = s["median_by_effect_us"]
        table.add_row(
            escape(PIPE_LABELS[name]),
            check,
            fmt_us(s["median_us"]),
            fmt_us(s["p99_us"]),
            fmt_range(min(s["round_medians_us"]), max(s["round_medians_us"])),
            fmt_us(s["allow_deny"]["median_us"]),
            " / ".join(f"{by[e]:,.0f}" if e in by else "—" for e in EFFECTS),
            f"{s['median_us'] / anchor['median_us']:.2f}x" if anchor else "—",
        )
    console.print(table)

    table = Table(title="where the time goes: stage medians from Decision.latency_us (µs)")
    for col in ("stage", "durable: median", "p99", "share", "async: median", "p99 ", "share "):
        table.add_column(col, justify="left" if col == "stage" else "right")
    st = stats["stages"]
    for stage in (*STAGES, "total", *EXTRA_STAGES):
        cells: list[str] = [EXTRA_STAGES.get(stage, stage)]
        for name in ("tether", "tether_async"):
            s = st.get(name, {}).get(stage)
            cells += (
                [f"{s['median_us']:,.0f}", f"{s['p99_us']:,.0f}", f"{s['share']:.0%}"]
                if s
                else ["—", "—", "—"]
            )
        table.add_row(*cells)
    console.print(table)

    table = Table(title="many callers, durable records, group commit")
    for col in ("callers", "requests", "rate (median)", "round rates", "mean batch",
                "executemany, same rows", "outcomes"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("callers", "outcomes") else "right")
    for key, cs in stats["concurrent"].items():
        kind, sub = key.split(":")
        table.add_row(
            escape(CONCURRENT_LABELS[kind].format(n=run.info["callers"])),
            SUBSETS[sub],
            f"{cs['rate_median']:,.0f} /s",
            f"{min(cs['rates']):,.0f}-{max(cs['rates']):,.0f}",
            f"{cs['mean_batch']:.1f}" if cs["mean_batch"] else "—",
            f"{cs['anchor_rate_median']:,.0f} /s",
            escape(", ".join(f"{k} {v}" for k, v in sorted(cs["outcomes"].items()))),
        )
    console.print(table)


# =======================================================================================
# Output
# =======================================================================================


def render_engines(
    engines: dict[str, Engine], stats: dict[str, dict[str, Any]], console: Console, title: str
) -> None:
    table = Table(title=title)
    for col, justify in (
        ("engine", "left"),
        ("check", "center"),
        ("median", "right"),
        ("p99", "right"),
        ("round medians", "right"),
        ("round p99", "right"),
        ("÷ tether (median)", "right"),
        ("benchmarks.md", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    ts = stats.get("tether")
    for name, engine in engines.items():
        ref = REFERENCE_US.get(name)
        ref_text = f"{ref[0]:g} / {ref[1]}" if ref else "≤ 25 / ≤ 60 (target)"
        if not engine.measured:
            table.add_row(
                escape(ENGINE_LABELS[name]),
                "—",
                "not measured",
                escape(engine.reason[:60]),
                "",
                "",
                "",
                ref_text,
            )
            continue
        s = stats[name]
        check = "[green]ok[/]" if engine.check.get("passed") else "[red]FAILED[/]"
        rel = f"{s['median_us'] / ts['median_us']:.2f}x" if ts else "—"
        table.add_row(
            escape(ENGINE_LABELS[name]),
            check,
            fmt_us(s["median_us"]),
            fmt_us(s["p99_us"]),
            fmt_range(min(s["round_medians_us"]), max(s["round_medians_us"])),
            fmt_range(min(s["round_p99_us"]), max(s["round_p99_us"])),
            rel,
            ref_text,
        )
    console.print(table)


def render_metrics(metrics: list[Metric], console: Console, title: str) -> None:
    table = Table(title=title)
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
        if last is not None and m.group != last:
            table.add_section()
        last = m.group
        verdict = {True: "[green]yes[/]", False: "[red]NO[/]", None: "—"}[m.passed]
        table.add_row(
            escape(f"[{m.group}] {m.name}"),
            escape(m.tether),
            escape(m.anchor),
            m.ratio,
            m.target,
            verdict,
        )
    console.print(table)


# =======================================================================================
# Driver
# =======================================================================================


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="tether decision benchmark (W1): the policy step against one-program "
        "CEL, plain Python and Microsoft's Agent Governance Toolkit; then the whole "
        "pipeline against a bare SQLite commit, with 32 callers, and against AGT govern().",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 3 rounds, 3,000 policy decisions and 1,800 pipeline decisions "
        "per engine, 32 x 50 concurrent",
    )
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 5)")
    p.add_argument(
        "--decisions",
        type=int,
        default=None,
        help="timed policy decisions per engine, over all rounds (default 20,000)",
    )
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed calls before each round (default 500)"
    )
    p.add_argument(
        "--pipeline-decisions",
        type=int,
        default=None,
        help="timed whole-pipeline decisions per engine, over all rounds (default 10,000: "
        "each round goes once through the 2,000 requests)",
    )
    p.add_argument(
        "--pipeline-warmup",
        type=int,
        default=None,
        help="untimed pipeline calls before each round (default 200)",
    )
    p.add_argument("--callers", type=int, default=32, help="concurrent callers (default 32)")
    p.add_argument(
        "--per-caller",
        type=int,
        default=None,
        help="decisions per concurrent caller per round (default 200)",
    )
    p.add_argument("--seed", type=int, default=SEED, help="seed of the W1 requests")
    p.add_argument("--no-agt", action="store_true", help="skip the Agent Governance Toolkit")
    p.add_argument(
        "--agt-python",
        default=None,
        help=f"python of a venv with {AGT_REQUIREMENT} (default ${AGT_ENV}, else "
        f"{AGT_VENV}/bin/python, created and installed on first use)",
    )
    only = p.add_mutually_exclusive_group()
    only.add_argument("--no-pipeline", action="store_true", help="the policy step only")
    only.add_argument(
        "--pipeline-only", action="store_true", help="the whole pipeline only (no policy step)"
    )
    p.add_argument(
        "--workdir",
        default=None,
        help="where the pipeline's databases go (a temporary directory inside it; "
        "default: the system's temporary directory)",
    )
    p.add_argument("--keep", action="store_true", help="keep the pipeline's databases")
    p.add_argument("--no-save", action="store_true", help="don't write bench/results/")
    p.add_argument("--note", default="", help="free text stored in the JSON (e.g. what src)")
    args = p.parse_args(argv)
    defaults = {
        "rounds": 3 if args.quick else 5,
        "decisions": 3000 if args.quick else 20_000,
        "warmup": 200 if args.quick else 500,
        "pipeline_decisions": 1800 if args.quick else 10_000,
        "pipeline_warmup": 100 if args.quick else 200,
        "per_caller": 50 if args.quick else 200,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.rounds < 1 or args.decisions < args.rounds:
        p.error("need --rounds >= 1 and --decisions >= --rounds")
    if args.pipeline_decisions < args.rounds or args.callers < 1 or args.per_caller < 1:
        p.error("need --pipeline-decisions >= --rounds, --callers >= 1, --per-caller >= 1")
    return args


def in_process_engines(
    w1: ModuleType,
) -> tuple[dict[str, Callable[[Any], Any]], dict[str, Callable[[Any], Any]]]:
    """(timed callables, result -> (effect, rule ids)) for tether, the floor and CEL."""
    policy = Policy.from_file(w1.POLICY)
    return (
        {"tether": policy.evaluate, "python": w1.reference, "cel": cel_anchor()},
        {
            "tether": lambda v: (v.effect, list(v.rules)),
            "python": lambda r: r,
            "cel": lambda r: r,
        },
    )


def start_agt(
    args: argparse.Namespace,
    engines: dict[str, Engine],
    reference: Sequence[tuple[str, list[str]]],
    count: int,
    log: Console,
) -> tuple[AgtChild | None, dict[str, Any]]:
    """Start the toolkit's process (installing it if need be) and check its outcomes."""
    for name in ("agt_engine", "agt_govern"):
        engines[name] = Engine(
            name, "subprocess (AGT venv)", status="unavailable", reason="skipped (--no-agt)"
        )
    if args.no_agt:
        return None, {"requirement": AGT_REQUIREMENT, "status": "skipped (--no-agt)"}
    child: AgtChild | None = None
    python, why = find_agt_python(args, log)
    if python is not None:
        try:
            child = AgtChild(python, W1_PATH, args.seed, count)
            if not child.hello.get("ok"):
                why = f"the toolkit failed on the W1 policy: {child.hello.get('error')}"
        except (OSError, RuntimeError, ValueError) as exc:
            why = f"could not start the toolkit's process: {exc}"
        if why and child is not None:
            child.close()
            child = None
    if child is None:
        log.print(f"AGT not measured: {why}")
        for name in ("agt_engine", "agt_govern"):
            engines[name].reason = why
        return None, {"requirement": AGT_REQUIREMENT, "status": "unavailable", "reason": why}
    hello = child.hello
    for name in ("agt_engine", "agt_govern"):
        engine = engines[name]
        engine.status = "ok"
        got = [(e, r) for e, r in hello["outcomes"][name]]
        engine.check = check_engine(got, reference, rules="one")
        if not engine.check["passed"]:
            engine.status = "failed"
            engine.reason = f"{engine.check['effect_mismatches']} effect mismatches"
    return child, {
        "requirement": AGT_REQUIREMENT,
        "status": "measured",
        "python": str(python),
        "versions": hello["versions"],
        "policy_rules": hello["policy_rules"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    log = Console(
        stderr=True, highlight=False, markup=False, width=None if sys.stderr.isatty() else 160
    )
    started = dt.datetime.now(dt.UTC)
    load_at_start = os.getloadavg()
    git = git_info()  # at the start: the commit may move while the benchmark runs
    w1 = load_w1()
    requests = w1.requests(REQUESTS, args.seed)
    reference = [w1.reference(r) for r in requests]
    effects = [e for e, _ in reference]
    mix = {e: effects.count(e) / len(effects) for e in EFFECTS}
    log.print(
        f"{len(requests):,} W1 requests (seed {args.seed}): "
        + ", ".join(f"{e} {share:.0%}" for e, share in mix.items())
    )

    # -- engines, each checked against the reference before any timing
    timed, outcome_of = in_process_engines(w1)
    engines: dict[str, Engine] = {}
    for name in ("python", "cel", "tether"):
        engine = Engine(name, "in-process")
        got = [outcome_of[name](timed[name](r)) for r in requests]
        engine.check = check_engine(got, reference, rules="all")
        if not engine.check["passed"]:
            engine.status = "failed"
            engine.reason = f"{engine.check['effect_mismatches']} effect mismatches"
        engines[name] = engine
    child, agt_info = start_agt(args, engines, reference, len(requests), log)
    for name, engine in engines.items():
        if engine.check:
            c = engine.check
            log.print(
                f"check {name}: {c['effect_mismatches']} effect mismatches, "
                f"{c['rule_mismatches']} rule-id mismatches of {c['rule_checked']}"
            )
            for bad in c["first_mismatches"][:3]:
                log.print(f"  MISMATCH {name}: {bad}")

    # -- timing: alternating rounds, floor and anchors first on even rounds
    order = [n for n in ("python", "cel", "agt_engine", "agt_govern", "tether") if n in engines]
    order = [n for n in order if engines[n].status != "unavailable"]
    per_round = args.decisions // args.rounds
    overhead = [clock_overhead_ns()]
    pipe: PipelineRun | None = None
    try:
        for rnd in range(0 if args.pipeline_only else args.rounds):
            for name in order if rnd % 2 == 0 else order[::-1]:
                if name.startswith("agt_"):
                    assert child is not None
                    samples = child.time(name, per_round, args.warmup)
                else:
                    samples = time_calls(timed[name], requests, per_round, args.warmup)
                engines[name].rounds.append(samples)
            line = ", ".join(
                f"{n} {statistics.median(engines[n].rounds[-1]) / 1000:.1f}" for n in order
            )
            log.print(f"round {rnd + 1}/{args.rounds} medians (µs): {line}")
        overhead.append(clock_overhead_ns())
        if not args.no_pipeline:
            pipe = run_pipeline(args, w1, requests, effects, child, engines["agt_govern"], log)
    finally:
        if child is not None:
            child.close()

    stats = {name: engine_stats(e, effects) for name, e in engines.items() if e.measured}
    metrics = build_metrics(engines, stats)
    pipe_stats: dict[str, Any] | None = None
    if pipe is not None:
        pipe_stats = pipeline_stats(pipe, effects)
        metrics += pipeline_metrics(pipe, pipe_stats, args.callers)

    import tether

    module = str(Path(tether.__file__).resolve().parent)
    meta: dict[str, Any] = {
        "benchmark": "W1 decision: policy step and whole pipeline",
        "date": started.isoformat(timespec="seconds"),
        "machine": machine_info(
            **{"common-expression-language": metadata.version("common-expression-language")}
        ),
        "git": git,
        "tree_measured": (
            "this checkout's src/" if module.startswith(str(ROOT / "src")) else module
        ),
        "note": args.note,
        "args": vars(args),
        "scenario": {
            "policy": str(Path(w1.POLICY).relative_to(ROOT)),
            "requests": len(requests),
            "seed": args.seed,
            "outcome_mix": mix,
            "decisions_per_round": per_round,
        },
        "timer": {
            "method": "time.perf_counter_ns around each call; gc off while timing",
            "empty_call_median_ns": overhead,
            "subtracted": False,
        },
        "agt": agt_info,
        "reference_figures_us": {k: {"median": v[0], "p99": v[1]} for k, v in REFERENCE_US.items()},
    }
    meta["machine"]["load_avg_at_start"] = load_at_start
    meta["machine"]["load_avg_at_end"] = os.getloadavg()
    meta["seconds"] = (dt.datetime.now(dt.UTC) - started).total_seconds()
    result = {
        **meta,
        "engines": {
            name: {
                "label": ENGINE_LABELS[name],
                "where": e.where,
                "status": e.status,
                "reason": e.reason,
                "check": e.check,
                "stats": stats.get(name),
            }
            for name, e in engines.items()
        },
        "pipeline": None
        if pipe is None or pipe_stats is None
        else {
            **pipe.info,
            "targets": {
                "added_latency_us": TARGET_ADDED_US,
                "decisions_per_second": TARGET_RATE,
                "agt_over_overhead": TARGET_OVERHEAD_FACTOR,
            },
            "engines": {
                name: {
                    "label": PIPE_LABELS[name],
                    "where": e.where,
                    "status": e.status,
                    "reason": e.reason,
                    "stats": pipe_stats["engines"].get(name),
                }
                for name, e in pipe.engines.items()
            },
            "stages": pipe_stats["stages"],
            "outcomes_timed": pipe_stats["outcomes"],
            "concurrent": pipe_stats["concurrent"],
            "cold_probe": pipe_stats["cold"],
        },
        "metrics": [vars(m) for m in metrics],
    }

    cores = meta["machine"]["cores"]
    note = f"{cores} cores, {meta['machine']['cpu']}"
    if not args.pipeline_only:
        render_engines(
            engines,
            stats,
            console,
            f"W1 policy decision: {per_round * args.rounds:,} decisions per engine in "
            f"{args.rounds} rounds — {meta['date']} — {note}",
        )
    if pipe is not None and pipe_stats is not None:
        n = pipe.info["decisions_per_round"] * args.rounds
        render_pipeline(
            pipe,
            pipe_stats,
            console,
            f"W1 whole pipeline, 1 caller: {n:,} decisions per engine in {args.rounds} rounds "
            f"— SQLite {sqlite3.sqlite_version} on {pipe.info['filesystem']}",
        )
    render_metrics(metrics, console, "tether against its anchors and targets")
    if agt_info["status"] != "measured":
        console.print(f"AGT: {agt_info['status']}: {agt_info.get('reason', '')}")
    if not args.no_save:
        save_results("decide", started.strftime("%Y-%m-%dT%H%M"), result, args.quick, console)
    failed = [n for n, e in engines.items() if e.status == "failed"]
    if pipe is not None:
        failed += [f"pipeline {n}" for n, e in pipe.engines.items() if e.status == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
