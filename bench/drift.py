"""Drift benchmark (W3): tether's drift report and profiling side by side with Evidently's
``DataDriftPreset`` and whylogs, on the same seeded no-drift data, in one run.

Data: a reference and a current batch of ``--rows`` rows each (default 1,000,000) and 15
columns, 10 numeric (normal, lognormal, gamma, exponential, Student t, a two-component
mixture) and 5 categorical strings (6, 8, 12, 16 and 20 categories, Zipf-like shares),
drawn from the *same* distributions: there is no drift. Written once to Parquet in a
temporary directory; every tool reads those files with pandas.

Each measurement runs in a fresh process (``drift_anchor.py``), with its tool's own
python: tether with this ``.venv``; Evidently and whylogs each in a virtualenv of their
own (``/tmp/tether-bench-evidently``, ``/tmp/tether-bench-whylogs``, created and
installed on first use). Thread pools are capped at 1 thread in every child
(``OMP_NUM_THREADS`` and friends).

1. Drift report, 1M x 15: tether's ``Baseline.build(reference, window_size=len(current))``
   + ``baseline.check(current)`` (per-feature statistics against calibrated thresholds,
   dataset verdict and data-quality findings) against Evidently's
   ``Report([DataDriftPreset()]).run(current, reference)`` (``Dataset.from_pandas`` of
   both frames included; HTML rendering timed apart). Target: >= 50x faster.
2. Peak memory of the same two runs, from ``/proc/self/status`` of each child: the total
   peak RSS, and the increment over the RSS with the data loaded. The target (<= 1/5 of
   Evidently's) is checked on the increment, the memory the drift report itself needs;
   the total-peak ratio is shown beside it.
3. Profiling throughput, one core (``os.sched_setaffinity`` in the child):
   ``Profile.build(reference)`` against ``whylogs.log(reference)``. Target: >= 10x
   whylogs, i.e. >= 730,000 rows/s on 15 columns.
4. False alarms on the no-drift data: drifted features out of 15 for each tool on the 1M
   pair, and over ``--trials`` more seeded no-drift pairs of ``--trial-rows`` rows.

If an anchor can't be installed or run, the reason (pip's own error) goes into the JSON
and the reference figures (100.8 s for Evidently at 1M; 73,000 rows/s for whylogs) are
used instead, marked "reference figure, not measured here".

Run ``python bench/drift.py --help``; results go to ``bench/results/``. Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from drift_anchor import THREAD_VARS
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import tether
from ledger import git_info, machine_info, save_results

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
CHILD = BENCH / "drift_anchor.py"
SEED = 20260101
# tether's children import the tether this process imported (a snapshot on PYTHONPATH, or
# this checkout's src/), whatever the child's working directory.
TETHER_SRC = str(Path(tether.__file__).resolve().parent.parent)

# -- targets (issue W3) -----------------------------------------------------------------
TARGET_SPEEDUP = 50.0  # Evidently DataDriftPreset seconds / tether seconds
TARGET_MEMORY_FRACTION = 0.2  # tether peak memory (increment) / Evidently's
TARGET_PROFILE_FACTOR = 10.0  # tether rows/s / whylogs rows/s
TARGET_PROFILE_ROWS_S = 730_000.0  # = 10 x the reference's ~73k rows/s

# -- reference figures (the reference benchmarks.md, W3), used only when not measured ---
EVIDENTLY_REFERENCE_S = {1_000: 2.5, 10_000: 3.6, 100_000: 10.0, 1_000_000: 100.8}
EVIDENTLY_REFERENCE_VERSION = "0.7.23"
WHYLOGS_REFERENCE_ROWS_S = 73_000.0
WHYLOGS_REFERENCE_VERSION = "1.6.4"
REFERENCE_NOTE = "reference figure, not measured here"


@dataclass(frozen=True)
class Anchor:
    """A tool in its own virtualenv."""

    name: str
    venv: Path
    requirements: tuple[str, ...]
    probe: str  # python code that must run once it is installed
    why_pins: str
    env_var: str


EVIDENTLY = Anchor(
    "evidently",
    Path("/tmp/tether-bench-evidently"),
    ("evidently==0.7.23", "pandas<3", "pyarrow"),
    "import pyarrow\nimport evidently\n"
    "try:\n    from evidently.presets import DataDriftPreset\n"
    "except ImportError:\n    from evidently.metric_preset import DataDriftPreset\n",
    "evidently 0.7.23 is the reference's version; pandas<3 because evidently 0.7.23 "
    "imports pandas.core.dtypes.common.infer_dtype_from_object, which pandas 3 removed "
    "(ImportError at `import evidently`)",
    "TETHER_BENCH_EVIDENTLY_PYTHON",
)
WHYLOGS = Anchor(
    "whylogs",
    Path("/tmp/tether-bench-whylogs"),
    ("whylogs[viz]==1.6.4", "numpy<2", "pandas<3", "pyarrow<22"),
    "import pyarrow\nimport whylogs\n"
    "from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores",
    "whylogs 1.6.4 is the reference's version and needs numpy < 2; pandas<3 keeps it on the "
    "pandas line it was released against; pyarrow<22 (to read the Parquet files) because "
    "the newest pyarrow (26.0.1) refuses numpy 1.x ('pyarrow requires NumPy 2.0 or newer') "
    "and 21.0.0 accepts it; [viz] brings scipy and IPython, which its drift scores "
    "(whylogs.viz.drift) import",
    "TETHER_BENCH_WHYLOGS_PYTHON",
)


# =======================================================================================
# Data: seeded, 10 numeric + 5 categorical columns, no drift between the batches
# =======================================================================================

NUMERIC: list[tuple[str, str]] = [
    ("num_0", "normal(0, 1)"),
    ("num_1", "normal(100, 15)"),
    ("num_2", "lognormal(3, 0.8)"),
    ("num_3", "lognormal(0, 0.5)"),
    ("num_4", "normal(-5, 3)"),
    ("num_5", "gamma(shape 2, scale 2)"),
    ("num_6", "exponential(1)"),
    ("num_7", "lognormal(8, 1.2)"),
    ("num_8", "0.7 normal(0, 1) + 0.3 normal(4, 0.5)"),
    ("num_9", "student t(5)"),
]
CATEGORICAL: list[tuple[str, str, int]] = [
    ("cat_0", "region", 6),
    ("cat_1", "channel", 8),
    ("cat_2", "device", 12),
    ("cat_3", "segment", 16),
    ("cat_4", "product", 20),
]
ZIPF_EXPONENT = 0.9


def _numeric(rng: np.random.Generator, index: int, n: int) -> np.ndarray:
    draws: list[Callable[[], np.ndarray]] = [
        lambda: rng.normal(0.0, 1.0, n),
        lambda: rng.normal(100.0, 15.0, n),
        lambda: rng.lognormal(3.0, 0.8, n),
        lambda: rng.lognormal(0.0, 0.5, n),
        lambda: rng.normal(-5.0, 3.0, n),
        lambda: rng.gamma(2.0, 2.0, n),
        lambda: rng.exponential(1.0, n),
        lambda: rng.lognormal(8.0, 1.2, n),
        lambda: np.where(rng.random(n) < 0.7, rng.normal(0.0, 1.0, n), rng.normal(4.0, 0.5, n)),
        lambda: rng.standard_t(5, n),
    ]
    out: np.ndarray = draws[index]()
    return out


def category_shares(k: int) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1) ** ZIPF_EXPONENT
    out: np.ndarray = p / p.sum()
    return out


def make_table(seed_seq: np.random.SeedSequence, n: int) -> pa.Table:
    """One batch: ``n`` rows of the 15 columns (categoricals as plain strings)."""
    rng = np.random.default_rng(seed_seq)
    columns: dict[str, pa.Array] = {}
    for i, (name, _) in enumerate(NUMERIC):
        columns[name] = pa.array(_numeric(rng, i, n))
    for name, prefix, k in CATEGORICAL:
        codes = rng.choice(k, size=n, p=category_shares(k)).astype(np.int32)
        labels = pa.array([f"{prefix}-{j:02d}" for j in range(k)])
        columns[name] = pa.DictionaryArray.from_arrays(pa.array(codes), labels).cast(pa.string())
    return pa.table(columns)


def write_data(
    directory: Path, rows: int, trials: int, trial_rows: int, seed: int
) -> dict[str, Any]:
    """Write the main pair and the trial pairs to Parquet; return the spec (also saved
    as ``spec.json``, which the children read)."""
    root = np.random.SeedSequence(seed)
    main_seq, *trial_seqs = root.spawn(1 + trials)
    pairs: list[dict[str, str]] = []
    for label, seq, n in [("main", main_seq, rows)] + [
        (f"trial{i:02d}", s, trial_rows) for i, s in enumerate(trial_seqs)
    ]:
        ref_seq, cur_seq = seq.spawn(2)
        pair = {"reference": f"{label}-reference.parquet", "current": f"{label}-current.parquet"}
        pq.write_table(make_table(ref_seq, n), directory / pair["reference"])
        pq.write_table(make_table(cur_seq, n), directory / pair["current"])
        pairs.append(pair)
    spec = {
        "rows": rows,
        "seed": seed,
        "numeric": [name for name, _ in NUMERIC],
        "categorical": [name for name, _, _ in CATEGORICAL],
        "distributions": {
            **dict(NUMERIC),
            **{
                name: f"{k} categories '{prefix}-00'..'{prefix}-{k - 1:02d}', "
                f"shares ~ 1/rank^{ZIPF_EXPONENT}"
                for name, prefix, k in CATEGORICAL
            },
        },
        "main": pairs[0],
        "trials": pairs[1:],
        "trial_rows": trial_rows,
        "parquet_bytes": {
            "main": sum((directory / f).stat().st_size for f in pairs[0].values()),
        },
    }
    (directory / "spec.json").write_text(json.dumps(spec, indent=2))
    return spec


# =======================================================================================
# The anchors' virtualenvs
# =======================================================================================


@dataclass
class AnchorStatus:
    anchor: Anchor
    python: Path | None = None
    status: str = "unavailable"  # measured | unavailable | skipped | failed
    reason: str = ""
    install_error: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.python is not None and self.status == "measured"

    def fail(self, why: str) -> None:
        self.status, self.reason = "failed", why

    def to_dict(self) -> dict[str, Any]:
        a = self.anchor
        return {
            "status": self.status,
            "reason": self.reason,
            "install_error": self.install_error,
            "python": str(self.python) if self.python else None,
            "venv": str(a.venv),
            "requirements": list(a.requirements),
            "why_these_pins": a.why_pins,
            "versions": self.versions,
        }


def _probe(python: Path, code: str) -> str:
    """'' if ``code`` runs with ``python``, else the last lines of its error."""
    try:
        done = subprocess.run(
            [str(python), "-W", "ignore", "-c", code],
            capture_output=True,
            text=True,
            timeout=300,
            env=child_env(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return ""
    return " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])


def find_anchor(anchor: Anchor, override: str | None, log: Console) -> AnchorStatus:
    """The anchor's python: given, already installed, or installed now into its venv."""
    state = AnchorStatus(anchor)
    given = override or os.environ.get(anchor.env_var)
    python = Path(given) if given else anchor.venv / "bin" / "python"
    if given and not python.exists():
        state.reason = f"{python}: not found"
        return state
    why = _probe(python, anchor.probe) if python.exists() else "not installed"
    if why and not given:
        reqs = " ".join(f'"{r}"' for r in anchor.requirements)
        log.print(f"installing {reqs} into {anchor.venv} (once; a few minutes)...")
        try:
            if not python.exists():
                subprocess.run(
                    [sys.executable, "-m", "venv", str(anchor.venv)],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", *anchor.requirements],
                check=True,
                capture_output=True,
                text=True,
                timeout=1800,
            )
        except subprocess.CalledProcessError as exc:
            lines = [
                line
                for line in (exc.stderr or exc.stdout or "").strip().splitlines()
                if "is ignored: it is neither a file nor a directory" not in line
            ]
            state.install_error = "\n".join(lines[-20:])
            state.reason = f"`pip install {reqs}` failed: " + " | ".join(lines[-3:])
            return state
        except (OSError, subprocess.SubprocessError) as exc:
            state.reason = f"could not create {anchor.venv}: {exc}"
            return state
        why = _probe(python, anchor.probe)
    if why:
        state.reason = f"installed, but it does not import: {why}"
        return state
    state.python, state.status = python, "measured"
    return state


# =======================================================================================
# Children
# =======================================================================================


def child_env() -> dict[str, str]:
    """The environment of every child: one thread per pool, no telemetry, and nothing
    from this venv leaking into an anchor's python."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(dict.fromkeys(THREAD_VARS, "1"))
    env.update(WHYLOGS_NO_ANALYTICS="True", DO_NOT_TRACK="1", PYTHONHASHSEED="0")
    return env


class ChildFailed(RuntimeError):
    pass


def run_child(
    python: Path,
    task: str,
    data: Path,
    *,
    pin: int | None = None,
    repeat: int = 1,
    extra: Sequence[str] = (),
    timeout: float = 3600,
) -> dict[str, Any]:
    """Run one task of ``drift_anchor.py`` in a fresh process; its JSON result."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    cmd = [
        str(python),
        "-W",
        "ignore",
        str(CHILD),
        task,
        "--data",
        str(data),
        "--out",
        str(out),
        "--repeat",
        str(repeat),
        *extra,
    ]
    if pin is not None:
        cmd += ["--pin", str(pin)]
    env = child_env()
    if python == Path(sys.executable):  # tether: the same tether this process imported
        env["PYTHONPATH"] = TETHER_SRC
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(BENCH)
        )
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-6:])
            raise ChildFailed(f"{task} exited {done.returncode}: {tail}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result
    except subprocess.TimeoutExpired as exc:
        raise ChildFailed(f"{task} timed out after {timeout:.0f} s") from exc
    finally:
        out.unlink(missing_ok=True)


# =======================================================================================
# Figures
# =======================================================================================


@dataclass
class Metric:
    name: str
    tether: str
    anchor: str
    ratio: str
    target: str
    passed: bool | None
    data: dict[str, Any] = field(default_factory=dict)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def _mb(kb: float) -> str:
    return f"{kb / 1024:,.0f} MiB"


def _secs(s: float) -> str:
    if s < 0.1:
        return f"{s * 1000:,.1f} ms"
    return f"{s:,.2f} s" if s < 100 else f"{s:,.1f} s"


def _rate(rows_s: float) -> str:
    return f"{rows_s:,.0f} rows/s"


def evidently_reference_s(rows: int) -> tuple[float, int]:
    """The reference's Evidently time for the nearest size it gives (and that size)."""
    size = min(EVIDENTLY_REFERENCE_S, key=lambda s: abs(math.log(s / rows)))
    return EVIDENTLY_REFERENCE_S[size], size


def summarise(
    rows: int, runs: dict[str, list[dict[str, Any]]]
) -> tuple[list[Metric], dict[str, Any]]:
    """The metrics of the table and a summary of every raw figure."""
    metrics: list[Metric] = []
    summary: dict[str, Any] = {}

    # -- 1. drift report time
    t_report = [r["seconds"] for r in runs["tether-report"]]
    t_s = _median(t_report)
    summary["tether_report_s"] = {
        "median": t_s,
        "rounds": t_report,
        "build_s": [r["build_s"] for r in runs["tether-report"]],
        "check_s": [r["check_s"] for r in runs["tether-report"]],
        "cpu_s": [r["cpu_seconds"] for r in runs["tether-report"]],
    }
    ev_runs = runs["evidently-report"]
    if ev_runs:
        e_s = _median([r["seconds"] for r in ev_runs])
        e_label, e_measured = _secs(e_s), True
        summary["evidently_report_s"] = {
            "median": e_s,
            "rounds": [r["seconds"] for r in ev_runs],
            "datasets_s": [r.get("datasets_s") for r in ev_runs],
            "run_s": [r.get("run_s") for r in ev_runs],
            "cpu_s": [r["cpu_seconds"] for r in ev_runs],
            "html_s": [r.get("html_s") for r in ev_runs],
            "html_bytes": [r.get("html_bytes") for r in ev_runs],
        }
    else:
        e_s, size = evidently_reference_s(rows)
        e_label, e_measured = f"{_secs(e_s)} ({REFERENCE_NOTE}, {size:,} rows)", False
        summary["evidently_report_s"] = {
            "reference_figure": e_s,
            "reference_rows": size,
            "note": REFERENCE_NOTE,
        }
    speedup = e_s / t_s
    metrics.append(
        Metric(
            f"drift report, {rows:,} x 15 (median of {len(t_report)} tether runs)",
            _secs(t_s),
            f"{e_label} DataDriftPreset",
            f"{speedup:,.1f}x faster",
            f">= {TARGET_SPEEDUP:.0f}x",
            speedup >= TARGET_SPEEDUP,
            {
                "tether_s": t_s,
                "evidently_s": e_s,
                "speedup": speedup,
                "evidently_measured": e_measured,
            },
        )
    )
    if ev_runs and ev_runs[0].get("html_s") is not None:
        t_html = _median([r["html_s"] for r in runs["tether-report"]])
        e_html = _median([r["html_s"] for r in ev_runs])
        metrics.append(
            Metric(
                "  HTML rendering (not in the times above)",
                f"{_secs(t_html)}, {runs['tether-report'][0]['html_bytes'] / 1e6:.2f} MB",
                f"{_secs(e_html)}, {ev_runs[0]['html_bytes'] / 1e6:.2f} MB",
                f"{e_html / t_html:,.0f}x" if t_html else "-",
                "-",
                None,
                {"tether_html_s": t_html, "evidently_html_s": e_html},
            )
        )

    # -- 2. peak memory
    t_inc = _median([r["memory"]["peak_increment_kb"] for r in runs["tether-report"]])
    t_tot = _median([r["memory"]["peak_total_kb"] for r in runs["tether-report"]])
    t_loaded = _median([r["memory"]["rss_loaded_kb"] for r in runs["tether-report"]])
    summary["tether_memory_kb"] = {
        "peak_increment": t_inc,
        "peak_total": t_tot,
        "rss_loaded": t_loaded,
        "rounds": [r["memory"] for r in runs["tether-report"]],
    }
    if ev_runs:
        e_inc = _median([r["memory"]["peak_increment_kb"] for r in ev_runs])
        e_tot = _median([r["memory"]["peak_total_kb"] for r in ev_runs])
        e_loaded = _median([r["memory"]["rss_loaded_kb"] for r in ev_runs])
        summary["evidently_memory_kb"] = {
            "peak_increment": e_inc,
            "peak_total": e_tot,
            "rss_loaded": e_loaded,
            "rounds": [r["memory"] for r in ev_runs],
        }
        frac = t_inc / e_inc
        metrics.append(
            Metric(
                "peak memory over 'data loaded' (increment; the target's figure)",
                _mb(t_inc),
                _mb(e_inc),
                f"{frac:.3f} (1/{1 / frac:,.1f})",
                f"<= {TARGET_MEMORY_FRACTION:g}",
                frac <= TARGET_MEMORY_FRACTION,
                {"tether_kb": t_inc, "evidently_kb": e_inc, "fraction": frac},
            )
        )
        frac_tot = t_tot / e_tot
        metrics.append(
            Metric(
                "peak memory, whole process (data loaded included)",
                f"{_mb(t_tot)} (data loaded {_mb(t_loaded)})",
                f"{_mb(e_tot)} (data loaded {_mb(e_loaded)})",
                f"{frac_tot:.3f} (1/{1 / frac_tot:,.1f})",
                "-",
                None,
                {"tether_kb": t_tot, "evidently_kb": e_tot, "fraction": frac_tot},
            )
        )
    else:
        metrics.append(
            Metric(
                "peak memory over 'data loaded' (increment)",
                _mb(t_inc),
                "not measured (no reference figure)",
                "-",
                f"<= {TARGET_MEMORY_FRACTION:g}",
                None,
            )
        )

    # -- 3. profiling throughput, one core
    prof = runs["tether-profile"]
    ref_times = [s for r in prof for s in r["reference_s"]]
    win_times = [s for r in prof for s in r["window_s"]]
    t_rate = rows / _median(ref_times)
    t_win_rate = rows / _median(win_times)
    arrow_rate = rows / _median([r["arrow_table_reference_s"] for r in prof])
    summary["tether_profile"] = {
        "reference_s": ref_times,
        "window_s": win_times,
        "reference_rows_s": t_rate,
        "window_rows_s": t_win_rate,
        "arrow_table_reference_rows_s": arrow_rate,
        "peak_increment_kb": [r["memory"]["peak_increment_kb"] for r in prof],
    }
    wl_runs = runs["whylogs-profile"]
    if wl_runs:
        w_times = [s for r in wl_runs for s in r["reference_s"]]
        w_rate, w_label = rows / _median(w_times), _rate(rows / _median(w_times))
        summary["whylogs_profile"] = {
            "reference_s": w_times,
            "rows_s": w_rate,
            "peak_increment_kb": [r["memory"]["peak_increment_kb"] for r in wl_runs],
        }
    else:
        w_rate, w_label = WHYLOGS_REFERENCE_ROWS_S, f"~73,000 rows/s ({REFERENCE_NOTE})"
        summary["whylogs_profile"] = {"reference_figure_rows_s": w_rate, "note": REFERENCE_NOTE}
    factor = t_rate / w_rate
    metrics.append(
        Metric(
            "profiling, reference profile, 15 columns, 1 core",
            _rate(t_rate),
            f"{w_label} whylogs.log",
            f"{factor:,.1f}x",
            f">= {TARGET_PROFILE_FACTOR:.0f}x",
            factor >= TARGET_PROFILE_FACTOR,
            {
                "tether_rows_s": t_rate,
                "whylogs_rows_s": w_rate,
                "factor": factor,
                "whylogs_measured": bool(wl_runs),
            },
        )
    )
    metrics.append(
        Metric(
            "  ... against the absolute target",
            _rate(t_rate),
            "-",
            f"{t_rate / TARGET_PROFILE_ROWS_S:.2f} of target",
            f">= {TARGET_PROFILE_ROWS_S:,.0f}",
            t_rate >= TARGET_PROFILE_ROWS_S,
            {"tether_rows_s": t_rate},
        )
    )
    metrics.append(
        Metric(
            "  window profile (on the reference's bins), 1 core",
            _rate(t_win_rate),
            f"{w_label}",
            f"{t_win_rate / w_rate:,.1f}x",
            "-",
            None,
            {"tether_rows_s": t_win_rate},
        )
    )
    metrics.append(
        Metric(
            "  reference profile from a pyarrow Table, 1 core",
            _rate(arrow_rate),
            "-",
            "-",
            "-",
            None,
            {"tether_rows_s": arrow_rate},
        )
    )

    # -- 4. false alarms
    alarms: dict[str, Any] = {}
    main_t = runs["tether-report"][0]
    alarms["tether"] = {"main": {"drifted": main_t["drifted"], "of": main_t["features"]}}
    if ev_runs:
        alarms["evidently"] = {
            "main": {"drifted": ev_runs[0]["drifted"], "of": ev_runs[0]["features"]}
        }
    if wl_runs:
        alarms["whylogs"] = {
            "main": {
                "drifted": wl_runs[0]["drifted"],
                "possible_drift": wl_runs[0]["possible_drift"],
                "of": wl_runs[0]["columns"],
            }
        }
    for tool in ("tether", "evidently", "whylogs"):
        trial_runs = runs.get(f"{tool}-trials") or []
        if trial_runs and tool in alarms:
            trials = trial_runs[0]["trials"]
            flagged = sum(len(t["drifted"]) for t in trials)
            features = sum(t["features"] for t in trials)
            alarms[tool]["trials"] = {
                "n": len(trials),
                "rows": trials[0]["rows"] if trials else 0,
                "flagged": flagged,
                "features": features,
                "rate": flagged / features if features else math.nan,
                "per_trial": [len(t["drifted"]) for t in trials],
                "possible_drift": [len(t.get("possible_drift", [])) for t in trials],
            }
    summary["false_alarms"] = alarms

    def alarm_text(tool: str) -> str:
        a = alarms.get(tool)
        if a is None:
            return "not measured"
        text = f"{len(a['main']['drifted'])} of {a['main']['of']} at {rows:,}"
        if "trials" in a:
            tr = a["trials"]
            text += (
                f"; {tr['flagged']} of {tr['features']} ({tr['rate']:.1%}) "
                f"over {tr['n']} x {tr['rows']:,}"
            )
        if tool == "whylogs":
            text += f"; 'possible drift' {len(a['main']['possible_drift'])}"
        return text

    metrics.append(
        Metric(
            "false alarms, no-drift data (features flagged)",
            alarm_text("tether"),
            f"Evidently: {alarm_text('evidently')}",
            "-",
            "-",
            None,
            {"alarms": alarms},
        )
    )
    metrics.append(Metric("", "", f"whylogs: {alarm_text('whylogs')}", "-", "-", None))
    return metrics, summary


def render(metrics: list[Metric], console: Console, title: str) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for col, justify in [
        ("metric", "left"),
        ("tether", "right"),
        ("anchor, same run", "right"),
        ("ratio", "right"),
        ("target", "right"),
        ("pass", "center"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for m in metrics:
        mark = "" if m.passed is None else ("[green]yes[/]" if m.passed else "[red]no[/]")
        table.add_row(
            escape(m.name),
            escape(m.tether),
            escape(m.anchor),
            escape(m.ratio),
            escape(m.target),
            mark,
        )
    console.print(table)


# =======================================================================================
# Main
# =======================================================================================


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="W3 drift benchmark: tether against Evidently's DataDriftPreset and "
        "whylogs, on the same no-drift data, in one run."
    )
    p.add_argument("--rows", type=int, default=None, help="rows per batch (default 1,000,000)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="100,000 rows, 2 rounds, 3 trials of 20,000 (writes *-quick.json)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="fresh tether processes per measurement (default 3; --quick 2)",
    )
    p.add_argument(
        "--anchor-rounds",
        type=int,
        default=1,
        help="fresh processes per anchor measurement (default 1)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="profile builds per profiling process, each tool (default 2)",
    )
    p.add_argument(
        "--trials",
        type=int,
        default=None,
        help="extra no-drift pairs for false-alarm rates (default 10; --quick 3)",
    )
    p.add_argument(
        "--trial-rows",
        type=int,
        default=None,
        help="rows per batch of each trial (default 100,000; --quick 20,000)",
    )
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--no-evidently", action="store_true", help="skip Evidently")
    p.add_argument("--no-whylogs", action="store_true", help="skip whylogs")
    p.add_argument("--no-html", action="store_true", help="don't time Evidently's HTML")
    p.add_argument(
        "--evidently-python",
        default=None,
        help=f"python of a venv with Evidently (default ${EVIDENTLY.env_var}, else "
        f"{EVIDENTLY.venv}/bin/python, created on first use)",
    )
    p.add_argument(
        "--whylogs-python",
        default=None,
        help=f"python of a venv with whylogs (default ${WHYLOGS.env_var}, else "
        f"{WHYLOGS.venv}/bin/python, created on first use)",
    )
    p.add_argument(
        "--pin",
        type=int,
        default=None,
        help="the CPU for the one-core profiling runs (default: the last one)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile one tether drift report (not timed; saved in the JSON)",
    )
    p.add_argument("--workdir", default=None, help="where the Parquet files go (a temp dir in it)")
    p.add_argument("--keep", action="store_true", help="keep the Parquet files")
    p.add_argument("--no-save", action="store_true", help="don't write bench/results/")
    p.add_argument("--note", default="", help="free text stored in the JSON")
    args = p.parse_args(argv)
    defaults = {
        "rows": 100_000 if args.quick else 1_000_000,
        "rounds": 2 if args.quick else 3,
        "trials": 3 if args.quick else 10,
        "trial_rows": 20_000 if args.quick else 100_000,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.rows < 1_000 or args.trial_rows < 1_000 or args.rounds < 1 or args.trials < 0:
        p.error("need --rows >= 1000, --trial-rows >= 1000, --rounds >= 1, --trials >= 0")
    if args.pin is None:
        args.pin = max(os.sched_getaffinity(0))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    log = Console(
        stderr=True, highlight=False, markup=False, width=None if sys.stderr.isatty() else 160
    )
    started = dt.datetime.now(dt.UTC)
    load_at_start = os.getloadavg()
    git = git_info()  # at the start: the commit may move while the benchmark runs

    anchors = {
        "evidently": AnchorStatus(EVIDENTLY, status="skipped", reason="--no-evidently")
        if args.no_evidently
        else find_anchor(EVIDENTLY, args.evidently_python, log),
        "whylogs": AnchorStatus(WHYLOGS, status="skipped", reason="--no-whylogs")
        if args.no_whylogs
        else find_anchor(WHYLOGS, args.whylogs_python, log),
    }
    for name, state in anchors.items():
        if not state.usable:
            log.print(f"{name}: not measured ({state.status}): {state.reason}")

    workdir = Path(tempfile.mkdtemp(prefix="tether-drift-", dir=args.workdir))
    me = Path(sys.executable)
    runs: dict[str, list[dict[str, Any]]] = {
        task: []
        for task in (
            "tether-report",
            "evidently-report",
            "tether-profile",
            "whylogs-profile",
            "tether-trials",
            "evidently-trials",
            "whylogs-trials",
        )
    }
    cprofile: dict[str, Any] | None = None
    try:
        log.print(
            f"writing {args.rows:,} + {args.rows:,} rows and {args.trials} trial pairs "
            f"of {args.trial_rows:,} to {workdir} ..."
        )
        spec = write_data(workdir, args.rows, args.trials, args.trial_rows, args.seed)

        def anchor_run(name: str, task: str, **kw: Any) -> None:
            state = anchors[name]
            if not state.usable:
                return
            assert state.python is not None
            try:
                result = run_child(state.python, task, workdir, **kw)
            except ChildFailed as exc:
                log.print(f"{name}: {exc}")
                state.fail(str(exc))
                return
            state.versions = {**result.get("versions", {}), **state.versions}
            runs[task].append(result)
            log.print(f"  {task}: {_describe(result)}")

        def tether_run(task: str, **kw: Any) -> None:
            result = run_child(me, task, workdir, **kw)
            runs[task].append(result)
            log.print(f"  {task}: {_describe(result)}")

        html = ["--no-html"] if args.no_html else []
        for rnd in range(args.rounds):
            log.print(f"round {rnd + 1}/{args.rounds}")
            steps: list[tuple[str, Callable[[], None]]] = [
                ("anchor", lambda: anchor_run("evidently", "evidently-report", extra=html)),
                ("tether", lambda: tether_run("tether-report")),
                (
                    "anchor",
                    lambda: anchor_run(
                        "whylogs", "whylogs-profile", pin=args.pin, repeat=args.repeat
                    ),
                ),
                ("tether", lambda: tether_run("tether-profile", pin=args.pin, repeat=args.repeat)),
            ]
            if rnd % 2:
                steps = [steps[1], steps[0], steps[3], steps[2]]
            for who, step in steps:
                if who == "tether" or rnd < args.anchor_rounds:
                    step()
        if args.trials:
            log.print(f"false alarms: {args.trials} no-drift pairs of {args.trial_rows:,} rows")
            tether_run("tether-trials")
            anchor_run("evidently", "evidently-trials")
            anchor_run("whylogs", "whylogs-trials")
        if args.profile:
            log.print("cProfile of one tether drift report (not timed)")
            cprofile = run_child(me, "tether-report", workdir, extra=["--cprofile"])
            log.print(cprofile["cprofile"]["tottime"])
    finally:
        if args.keep:
            log.print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    metrics, summary = summarise(args.rows, runs)
    import pandas as pd

    result = {
        "benchmark": "W3 drift report and profiling, against Evidently and whylogs",
        "date": started.isoformat(timespec="seconds"),
        "machine": machine_info(
            pandas=pd.__version__,
            numpy=np.__version__,
            pyarrow=pa.__version__,
            datasketches=metadata.version("datasketches"),
        ),
        "git": git,
        "note": args.note,
        "args": vars(args),
        "data": {k: v for k, v in spec.items() if k not in ("main", "trials")},
        "targets": {
            "speedup_vs_evidently": TARGET_SPEEDUP,
            "memory_fraction_of_evidently": TARGET_MEMORY_FRACTION,
            "memory_fraction_uses": "peak_increment (peak RSS minus RSS with the data "
            "loaded, each in its own process)",
            "profile_factor_vs_whylogs": TARGET_PROFILE_FACTOR,
            "profile_rows_s": TARGET_PROFILE_ROWS_S,
        },
        "reference_figures": {
            "evidently_s": EVIDENTLY_REFERENCE_S,
            "evidently_version": EVIDENTLY_REFERENCE_VERSION,
            "whylogs_rows_s": WHYLOGS_REFERENCE_ROWS_S,
            "whylogs_version": WHYLOGS_REFERENCE_VERSION,
            "used_for": [
                n
                for n, task in (("evidently", "evidently-report"), ("whylogs", "whylogs-profile"))
                if not runs[task]
            ],
        },
        "anchors": {n: s.to_dict() for n, s in anchors.items()},
        "summary": summary,
        "metrics": [vars(m) for m in metrics],
        "runs": runs,
        "cprofile": cprofile.get("cprofile") if cprofile else None,
    }
    result["machine"]["load_avg_at_start"] = load_at_start
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    result["seconds"] = (dt.datetime.now(dt.UTC) - started).total_seconds()

    versions = []
    for name, state in anchors.items():
        v = state.versions.get(name)
        versions.append(f"{name} {v}" if v and state.usable else f"{name}: {state.status}")
    render(
        metrics,
        console,
        f"W3 drift, {args.rows:,} x 15 (10 numeric, 5 categorical), no drift — "
        f"{result['date']} — {result['machine']['cores']} cores, "
        f"{result['machine']['cpu']} — {', '.join(versions)}",
    )
    for name, state in anchors.items():
        if not state.usable:
            console.print(f"{name}: {state.status}: {escape(state.reason)}")
    if not args.no_save:
        save_results("drift", started.strftime("%Y-%m-%dT%H%M"), result, args.quick, console)
    return 0


def _describe(result: dict[str, Any]) -> str:
    mem = result.get("memory", {})
    parts = []
    if "seconds" in result:
        parts.append(f"{result['seconds']:.2f} s")
    if "reference_s" in result:
        parts.append("profile " + ", ".join(f"{s:.2f}" for s in result["reference_s"]) + " s")
    if "drifted" in result:
        parts.append(f"drifted {len(result['drifted'])}")
    if "trials" in result:
        flagged = [len(t["drifted"]) for t in result["trials"]]
        parts.append(f"trials flagged {flagged}")
    if "peak_increment_kb" in mem:
        parts.append(f"peak +{_mb(mem['peak_increment_kb'])} (total {_mb(mem['peak_total_kb'])})")
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
