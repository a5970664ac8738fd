"""One measurement of the drift benchmark (W3), run in a fresh process by ``drift.py``.

The same script runs every tool, each with its own python: tether with the project's
``.venv``, Evidently and whylogs with their own virtualenvs (see ``drift.py``). Only the
standard library is imported at module level; each task imports its tool when it runs.

Every task reads the same Parquet files (``spec.json`` in the data directory names
them and says which columns are numeric and which categorical) with the pandas of its
own virtualenv, then measures. Memory is read from ``/proc/self/status``:

- ``rss_imported_kb``: ``VmRSS`` after importing the tool (before any data);
- ``rss_loaded_kb``: ``VmRSS`` once the frames are loaded and the tool has been warmed
  up on their first 2,000 rows (lazy imports, first-call costs), after ``gc.collect()``;
- ``hwm_load_kb``: ``VmHWM`` at that point (the peak of reading Parquet);
- then ``5`` is written to ``/proc/self/clear_refs``, which resets ``VmHWM`` to the
  current ``VmRSS``, and the timed work runs;
- ``hwm_work_kb``: ``VmHWM`` after the work: the process's peak during the work;
- ``peak_total_kb`` = max(``hwm_load_kb``, ``hwm_work_kb``): the whole process's peak;
- ``peak_increment_kb`` = ``hwm_work_kb`` - ``rss_loaded_kb``: what the work needed on
  top of the loaded data.

Usage: ``python drift_anchor.py TASK --data DIR --out FILE [--pin CPU] [--repeat N]
[--cprofile]``. Tasks: ``tether-report``, ``tether-profile``, ``tether-trials``,
``evidently-report``, ``evidently-trials``, ``whylogs-profile``, ``whylogs-trials``.
The result is one JSON object written to ``--out``. Not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "POLARS_MAX_THREADS",
)
TASKS = (
    "tether-report",
    "tether-profile",
    "tether-trials",
    "evidently-report",
    "evidently-trials",
    "whylogs-profile",
    "whylogs-trials",
)
MEMORY_METHOD = (
    "VmRSS/VmHWM from /proc/self/status of the tool's own fresh process; VmHWM reset "
    "(write 5 to /proc/self/clear_refs) once the data is loaded; peak_increment = VmHWM "
    "after the work - VmRSS with the data loaded; peak_total = the process's peak VmHWM"
)


# =======================================================================================
# Memory and CPU
# =======================================================================================


def proc_status() -> dict[str, int]:
    """``VmRSS``, ``VmHWM`` and ``RssAnon`` of this process, in kB."""
    text = Path("/proc/self/status").read_text()
    out: dict[str, int] = {}
    for key in ("VmRSS", "VmHWM", "RssAnon"):
        found = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.MULTILINE)
        out[key] = int(found.group(1)) if found else -1
    return out


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current ``VmRSS`` (Linux >= 4.0); False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Records memory at each stage and times the work."""

    def __init__(self) -> None:
        self.figures: dict[str, Any] = {"rss_start_kb": proc_status()["VmRSS"]}

    def imported(self, seconds: float) -> None:
        self.figures["import_s"] = seconds
        self.figures["rss_imported_kb"] = proc_status()["VmRSS"]

    def loaded(self, seconds: float, warm_up_s: float = 0.0) -> None:
        gc.collect()
        status = proc_status()
        self.figures.update(
            load_s=seconds,
            warm_up_s=warm_up_s,
            rss_loaded_kb=status["VmRSS"],
            anon_loaded_kb=status["RssAnon"],
            hwm_load_kb=status["VmHWM"],
            hwm_reset=reset_peak(),
        )

    def done(self) -> None:
        status = proc_status()
        f = self.figures
        f["hwm_work_kb"] = status["VmHWM"]
        f["rss_end_kb"] = status["VmRSS"]
        f["peak_total_kb"] = max(f["hwm_load_kb"], status["VmHWM"])
        f["peak_increment_kb"] = status["VmHWM"] - f["rss_loaded_kb"]
        f["ru_maxrss_self_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        f["memory_method"] = MEMORY_METHOD


WARMUP_ROWS = 2_000


def warm_up(fn: Callable[[Any, Any], Any], reference: Any, current: Any) -> float:
    """Run ``fn`` once, untimed, on the first ``WARMUP_ROWS`` rows of both frames: lazy
    imports and first-call costs are paid before the measurement (for every tool)."""
    started = time.perf_counter()
    fn(reference.head(WARMUP_ROWS), current.head(WARMUP_ROWS))
    return time.perf_counter() - started


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds) of one call."""
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, cpu_seconds() - cpu0


# =======================================================================================
# Data
# =======================================================================================


def load_spec(data: Path) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((data / "spec.json").read_text())
    return spec


def read_pair(data: Path, pair: dict[str, str]) -> tuple[Any, Any]:
    """The reference and current frames of one pair, read with this venv's pandas."""
    import pandas as pd

    return pd.read_parquet(data / pair["reference"]), pd.read_parquet(data / pair["current"])


def frame_info(frame: Any) -> dict[str, Any]:
    return {
        "rows": len(frame),
        "dtypes": sorted({str(t) for t in frame.dtypes}),
        "memory_usage_deep_mb": round(float(frame.memory_usage(deep=True).sum()) / 2**20, 1),
    }


def versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# =======================================================================================
# tether
# =======================================================================================


def tether_report(args: argparse.Namespace, spec: dict[str, Any], meter: Meter) -> dict[str, Any]:
    t0 = time.perf_counter()
    from tether.monitoring import Baseline, html_report

    meter.imported(time.perf_counter() - t0)
    t0 = time.perf_counter()
    reference, current = read_pair(args.data, spec["main"])
    load_s = time.perf_counter() - t0
    warm_s = warm_up(
        lambda r, c: Baseline.build(r, window_size=len(c)).check(c), reference, current
    )
    meter.loaded(load_s, warm_s)
    profiler = None
    if args.cprofile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    baseline, build_s, build_cpu = timed(
        lambda: Baseline.build(reference, window_size=len(current))
    )
    report, check_s, check_cpu = timed(lambda: baseline.check(current))
    if profiler is not None:
        profiler.disable()
    meter.done()
    page, html_s, _ = timed(lambda: html_report(baseline, report))
    drifted = [f.feature for f in report.drifted()]
    out: dict[str, Any] = {
        "tool": "tether",
        "what": "Baseline.build(reference, window_size=len(current)) + baseline.check(current)",
        "seconds": build_s + check_s,
        "cpu_seconds": build_cpu + check_cpu,
        "build_s": build_s,
        "check_s": check_s,
        "html_s": html_s,
        "html_bytes": len(page.encode()),
        "features": len(report.features),
        "drifted": drifted,
        "drifted_count": len(drifted),
        "dataset_drift": bool(report.dataset.is_drift),
        "quality_issues": [f"{q.column}: {q.kind}" for q in report.quality],
        "report": report.to_dict(),
        "frames": {"reference": frame_info(reference), "current": frame_info(current)},
        "versions": versions("pandas", "numpy", "pyarrow", "datasketches", "scipy"),
    }
    if profiler is not None:
        out["cprofile"] = profile_text(profiler)
    return out


def profile_text(profiler: Any, top: int = 30) -> dict[str, str]:
    import io
    import pstats

    texts = {}
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        texts[key] = buf.getvalue()
    return texts


def tether_profile(args: argparse.Namespace, spec: dict[str, Any], meter: Meter) -> dict[str, Any]:
    t0 = time.perf_counter()
    import pyarrow.parquet as pq

    from tether.monitoring import Profile

    meter.imported(time.perf_counter() - t0)
    t0 = time.perf_counter()
    reference, current = read_pair(args.data, spec["main"])
    load_s = time.perf_counter() - t0
    warm_s = warm_up(lambda r, c: Profile.build(c, reference=Profile.build(r)), reference, current)
    meter.loaded(load_s, warm_s)
    ref_s: list[float] = []
    win_s: list[float] = []
    cpu: list[float] = []
    ref_profile = None
    for _ in range(args.repeat):
        ref_profile, seconds, cpu_s = timed(lambda: Profile.build(reference))
        ref_s.append(seconds)
        cpu.append(cpu_s)
        window_started = time.perf_counter()
        Profile.build(current, reference=ref_profile)
        win_s.append(time.perf_counter() - window_started)
    meter.done()
    # The same reference profile from a pyarrow Table instead of a pandas DataFrame
    # (after the memory reading: the Table is extra data).
    table = pq.read_table(args.data / spec["main"]["reference"])
    _, arrow_s, _ = timed(lambda: Profile.build(table))
    assert ref_profile is not None
    return {
        "tool": "tether",
        "what": "Profile.build(reference) (a reference profile: deciles, top-20 categories, "
        "KLL, HLL) and Profile.build(current, reference=...) (a window); pandas DataFrame",
        "rows": len(reference),
        "columns": len(ref_profile.columns),
        "reference_s": ref_s,
        "window_s": win_s,
        "cpu_s": cpu,
        "arrow_table_reference_s": arrow_s,
        "frames": {"reference": frame_info(reference)},
        "versions": versions("pandas", "numpy", "pyarrow", "datasketches"),
    }


def tether_trials(args: argparse.Namespace, spec: dict[str, Any], meter: Meter) -> dict[str, Any]:
    from tether.monitoring import Baseline

    meter.imported(0.0)
    trials = []
    for pair in spec["trials"]:
        reference, current = read_pair(args.data, pair)
        started = time.perf_counter()
        report = Baseline.build(reference, window_size=len(current)).check(current)
        trials.append(
            {
                "rows": len(current),
                "seconds": time.perf_counter() - started,
                "features": len(report.features),
                "drifted": [f.feature for f in report.drifted()],
            }
        )
    meter.loaded(0.0)
    meter.done()
    return {"tool": "tether", "trials": trials, "versions": versions("pandas", "numpy")}


# =======================================================================================
# Evidently
# =======================================================================================


class EvidentlyRun:
    """Evidently's ``DataDriftPreset`` through whichever API the installed version has:
    >= 0.7 (``evidently.Report``, ``evidently.presets``, ``Dataset``/``DataDefinition``)
    or older (``evidently.report.Report``, ``evidently.metric_preset``,
    ``ColumnMapping``)."""

    def __init__(self, numeric: list[str], categorical: list[str]) -> None:
        self.numeric, self.categorical = numeric, categorical
        self._new: tuple[Any, Any, Any, Any] | None
        try:
            from evidently import DataDefinition, Dataset, Report
            from evidently.presets import DataDriftPreset

            self.api = "evidently.Report + evidently.presets.DataDriftPreset (>= 0.7)"
            self._new = (Report, DataDriftPreset, Dataset, DataDefinition)
        except ImportError:
            self._new = None
            self.api = "evidently.report.Report + evidently.metric_preset.DataDriftPreset"

    def run(self, reference: Any, current: Any) -> tuple[Any, dict[str, float]]:
        """Run the report; (result, seconds per part)."""
        parts: dict[str, float] = {}
        if self._new is not None:
            report_cls, preset, dataset, definition = self._new
            t0 = time.perf_counter()
            dd = definition(numerical_columns=self.numeric, categorical_columns=self.categorical)
            ref = dataset.from_pandas(reference, data_definition=dd)
            cur = dataset.from_pandas(current, data_definition=dd)
            parts["datasets_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            snapshot = report_cls([preset()]).run(current_data=cur, reference_data=ref)
            parts["run_s"] = time.perf_counter() - t0
            return snapshot, parts
        from evidently import ColumnMapping
        from evidently.metric_preset import DataDriftPreset
        from evidently.report import Report

        t0 = time.perf_counter()
        mapping = ColumnMapping(
            numerical_features=self.numeric, categorical_features=self.categorical
        )
        report = Report(metrics=[DataDriftPreset()])
        report.run(reference_data=reference, current_data=current, column_mapping=mapping)
        parts["run_s"] = time.perf_counter() - t0
        return report, parts

    def html(self, result: Any) -> str:
        if self._new is not None:
            return str(result.get_html_str(as_iframe=False))
        return str(result.get_html())

    def drift(self, result: Any) -> dict[str, Any]:
        """Its verdict: drifted columns (count and names) and each column's score."""
        if self._new is not None:
            metrics = result.dict()["metrics"]
            count, scores, names = None, {}, []
            for m in metrics:
                name = str(m.get("metric_name", ""))
                if name.startswith("DriftedColumnsCount"):
                    count = int(m["value"]["count"])
                elif name.startswith("ValueDrift("):
                    column = m["config"]["column"]
                    method, threshold = m["config"].get("method"), m["config"].get("threshold")
                    value = float(m["value"])
                    p_value = method is not None and "p_value" in str(method).lower()
                    hit = value < threshold if p_value else value >= threshold
                    scores[column] = {"method": method, "value": value, "threshold": threshold}
                    if hit:
                        names.append(column)
            return {
                "drifted_count": count if count is not None else len(names),
                "drifted": names,
                "scores": scores,
            }
        result_dict = result.as_dict()["metrics"]
        table = next(m["result"] for m in result_dict if "drift_by_columns" in m["result"])
        names = [c for c, r in table["drift_by_columns"].items() if r["drift_detected"]]
        scores = {
            c: {
                "method": r["stattest_name"],
                "value": r["drift_score"],
                "threshold": r.get("stattest_threshold"),
            }
            for c, r in table["drift_by_columns"].items()
        }
        return {
            "drifted_count": int(table["number_of_drifted_columns"]),
            "drifted": names,
            "scores": scores,
        }


def evidently_report(
    args: argparse.Namespace, spec: dict[str, Any], meter: Meter
) -> dict[str, Any]:
    t0 = time.perf_counter()
    runner = EvidentlyRun(spec["numeric"], spec["categorical"])
    meter.imported(time.perf_counter() - t0)
    t0 = time.perf_counter()
    reference, current = read_pair(args.data, spec["main"])
    load_s = time.perf_counter() - t0
    warm_s = warm_up(lambda r, c: runner.drift(runner.run(r, c)[0]), reference, current)
    meter.loaded(load_s, warm_s)
    (result, parts), seconds, cpu = timed(lambda: runner.run(reference, current))
    meter.done()
    hwm_compute = meter.figures["hwm_work_kb"]
    verdict = runner.drift(result)
    html_s = html_bytes = None
    hwm_html = None
    if not args.no_html:
        page, html_s, _ = timed(lambda: runner.html(result))
        html_bytes = len(page.encode())
        del page
        hwm_html = proc_status()["VmHWM"]
    return {
        "tool": "evidently",
        "what": "Dataset.from_pandas x 2 + Report([DataDriftPreset()]).run(current, reference)",
        "api": runner.api,
        "seconds": seconds,
        "cpu_seconds": cpu,
        **parts,
        "html_s": html_s,
        "html_bytes": html_bytes,
        "hwm_after_html_kb": hwm_html,
        "hwm_compute_kb": hwm_compute,
        "features": len(spec["numeric"]) + len(spec["categorical"]),
        **verdict,
        "frames": {"reference": frame_info(reference), "current": frame_info(current)},
        "versions": versions("evidently", "pandas", "numpy", "scipy", "pyarrow"),
    }


def evidently_trials(
    args: argparse.Namespace, spec: dict[str, Any], meter: Meter
) -> dict[str, Any]:
    runner = EvidentlyRun(spec["numeric"], spec["categorical"])
    meter.imported(0.0)
    trials = []
    for pair in spec["trials"]:
        reference, current = read_pair(args.data, pair)
        started = time.perf_counter()
        result, _ = runner.run(reference, current)
        verdict = runner.drift(result)
        trials.append(
            {
                "rows": len(current),
                "seconds": time.perf_counter() - started,
                "features": len(spec["numeric"]) + len(spec["categorical"]),
                "drifted": verdict["drifted"],
                "drifted_count": verdict["drifted_count"],
            }
        )
    meter.loaded(0.0)
    meter.done()
    return {
        "tool": "evidently",
        "api": runner.api,
        "trials": trials,
        "versions": versions("evidently", "pandas", "numpy"),
    }


# =======================================================================================
# whylogs
# =======================================================================================


def whylogs_drift(target: Any, reference: Any) -> dict[str, Any]:
    """whylogs' own drift scores (KS on its KLL sketches for numbers, chi-square on its
    frequent items for strings; default thresholds: p < 0.05 DRIFT, < 0.15 POSSIBLE)."""
    from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

    scores = calculate_drift_scores(
        target_view=target, reference_view=reference, with_thresholds=True
    )
    drift = [c for c, s in scores.items() if s and s.get("drift_category") == "DRIFT"]
    possible = [c for c, s in scores.items() if s and s.get("drift_category") == "POSSIBLE_DRIFT"]
    return {
        "drifted": sorted(drift),
        "drifted_count": len(drift),
        "possible_drift": sorted(possible),
        "scores": {
            c: None
            if s is None
            else {
                "algorithm": s.get("algorithm"),
                "p_value": s.get("pvalue"),
                "statistic": s.get("statistic"),
                "category": s.get("drift_category"),
            }
            for c, s in scores.items()
        },
    }


def whylogs_profile(args: argparse.Namespace, spec: dict[str, Any], meter: Meter) -> dict[str, Any]:
    t0 = time.perf_counter()
    import whylogs as why

    meter.imported(time.perf_counter() - t0)
    t0 = time.perf_counter()
    reference, current = read_pair(args.data, spec["main"])
    load_s = time.perf_counter() - t0
    warm_s = warm_up(
        lambda r, c: whylogs_drift(why.log(c).view(), why.log(r).view()), reference, current
    )
    meter.loaded(load_s, warm_s)
    ref_s: list[float] = []
    cpu: list[float] = []
    view = None
    for _ in range(args.repeat):
        view, seconds, cpu_s = timed(lambda: why.log(reference).view())
        ref_s.append(seconds)
        cpu.append(cpu_s)
    meter.done()
    assert view is not None
    current_view, current_s, _ = timed(lambda: why.log(current).view())
    verdict, drift_s, _ = timed(lambda: whylogs_drift(current_view, view))
    return {
        "tool": "whylogs",
        "what": "whylogs.log(pandas DataFrame).view()",
        "rows": len(reference),
        "columns": len(view.get_columns()),
        "reference_s": ref_s,
        "cpu_s": cpu,
        "current_s": current_s,
        "drift_s": drift_s,
        **verdict,
        "frames": {"reference": frame_info(reference)},
        "versions": versions("whylogs", "whylogs-sketching", "pandas", "numpy", "scipy"),
    }


def whylogs_trials(args: argparse.Namespace, spec: dict[str, Any], meter: Meter) -> dict[str, Any]:
    import whylogs as why

    meter.imported(0.0)
    trials = []
    for pair in spec["trials"]:
        reference, current = read_pair(args.data, pair)
        started = time.perf_counter()
        verdict = whylogs_drift(why.log(current).view(), why.log(reference).view())
        trials.append(
            {
                "rows": len(current),
                "seconds": time.perf_counter() - started,
                "features": len(verdict["scores"]),
                "drifted": verdict["drifted"],
                "drifted_count": verdict["drifted_count"],
                "possible_drift": verdict["possible_drift"],
            }
        )
    meter.loaded(0.0)
    meter.done()
    return {"tool": "whylogs", "trials": trials, "versions": versions("whylogs", "numpy")}


# =======================================================================================
# Entry point
# =======================================================================================

RUNNERS: dict[str, Callable[[argparse.Namespace, dict[str, Any], Meter], dict[str, Any]]] = {
    "tether-report": tether_report,
    "tether-profile": tether_profile,
    "tether-trials": tether_trials,
    "evidently-report": evidently_report,
    "evidently-trials": evidently_trials,
    "whylogs-profile": whylogs_profile,
    "whylogs-trials": whylogs_trials,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=TASKS)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pin", type=int, default=None, help="run on this CPU only")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--no-html", action="store_true")
    args = parser.parse_args(argv)
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
    meter = Meter()
    spec = load_spec(args.data)
    result = RUNNERS[args.task](args, spec, meter)
    result.update(
        task=args.task,
        memory=meter.figures,
        affinity=sorted(os.sched_getaffinity(0)),
        threads_env={k: os.environ.get(k, "") for k in THREAD_VARS},
        executable=sys.executable,
    )
    args.out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
