"""``tether monitor``: profiles, baselines and drift reports from files; stored
baselines and watching a system's recorded decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from tether.cli._common import open_tether, out_console, progress_bar
from tether.errors import InvalidInput
from tether.monitoring import (
    AnomalyDetector,
    Baseline,
    DriftReport,
    Profile,
    batch_windows,
    html_report,
)
from tether.monitoring._io import read_table

app = typer.Typer(help="Monitoring: profiles, baselines, drift.", no_args_is_help=True)

DataArg = Annotated[Path, typer.Argument(help="CSV or Parquet file.", show_default=False)]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Where to write the JSON.")]


@app.command()
def profile(data: DataArg, out: OutOpt) -> None:
    """Profile a file (bins on its own quantiles) and write the profile as JSON."""
    p = Profile.build(read_table(data))
    out.write_bytes(p.to_json())
    typer.echo(f"profiled {p.rows:,} rows, {len(p.columns)} columns → {out}")


@app.command()
def baseline(
    data: DataArg,
    out: OutOpt,
    window_size: Annotated[int, typer.Option(help="Rows per monitored window.")] = 1000,
    k: Annotated[float, typer.Option(help="Threshold = mean + k·std over reference chunks.")] = 3.0,
) -> None:
    """Profile a reference and calibrate drift thresholds for windows of a size."""
    b = Baseline.build(read_table(data), window_size=window_size, k=k)
    out.write_bytes(b.to_json())
    typer.echo(
        f"baseline of {b.profile.rows:,} rows, {len(b.thresholds)} columns, calibrated for "
        f"windows of {window_size:,} rows → {out}"
    )


@app.command()
def drift(
    reference: Annotated[
        Path, typer.Argument(help="A baseline JSON, or reference data (CSV/Parquet).")
    ],
    current: DataArg,
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    report_: Annotated[
        Path | None, typer.Option("--report", help="Also write a self-contained HTML report.")
    ] = None,
    rows_per_window: Annotated[
        int | None, typer.Option("--rows", help="Cut CURRENT into windows of this many rows.")
    ] = None,
    every: Annotated[
        float | None, typer.Option(help="Cut CURRENT into windows of this many seconds.")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option("--time-column", help="The time column (with --every).")
    ] = None,
) -> None:
    """Compare a window with a reference: drifted features, quality findings. With
    --rows or --every, CURRENT is cut into windows and each is compared."""
    data = read_table(current)
    rows = len(next(iter(data.values()))) if data else 0
    if rows == 0:
        raise InvalidInput(f"{current}: the window has no rows")
    if rows_per_window is None and every is None:
        cut = [(current.name, data)]
    else:
        cut = list(batch_windows(data, size=rows_per_window, every=every, time=time_column))
    base = _baseline(reference, rows_per_window or rows)
    checked = []
    with progress_bar("checking windows", len(cut)) as update:
        for i, (label, window) in enumerate(cut):
            profile = Profile.build(window, reference=base.profile)
            checked.append((label, profile, base.check(profile, raw=window)))
            update(i + 1, len(cut))
    label, window_profile, report = checked[-1]
    if report_ is not None:
        page = html_report(base, report, window_profile, title=f"Drift: {label}",
                           history=[(lbl, r) for lbl, _, r in checked])  # fmt: skip
        report_.write_text(page, encoding="utf-8")
    if json_:
        out: Any = report.to_dict() if len(checked) == 1 else [
            {"window": lbl, **r.to_dict()} for lbl, _, r in checked
        ]  # fmt: skip
        typer.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        return
    if len(checked) == 1:
        _print_drift(report)
        return
    table = Table("window", "rows", "drifted", "quality")
    for lbl, _, r in checked:
        drifted = ", ".join(f"{f.feature} ({f.severity})" for f in r.drifted()) or "-"
        table.add_row(lbl, f"{r.rows:,}", drifted, str(len(r.quality)))
    out_console().print(table)


def _baseline(reference: Path, window_size: int) -> Baseline:
    """A baseline JSON file, or one built from reference data for windows of a size."""
    if reference.suffix.lower() == ".json":
        text = reference.read_bytes()
        if b'"thresholds"' not in text:
            raise InvalidInput(
                f"{reference} is a profile, not a baseline: thresholds need the reference "
                "rows; run 'tether monitor baseline DATA --window-size N -o baseline.json'"
            )
        return Baseline.from_json(text)
    return Baseline.build(read_table(reference), window_size=window_size)


def _print_drift(report: DriftReport) -> None:
    table = Table("feature", "kind", "statistic", "value", "threshold", "severity")
    for f in report.features:
        w = f.worst
        mark = "[red]" if f.drifted else ""
        table.add_row(mark + f.feature, f.kind, w.statistic, f"{w.value:.4g}",
                      f"{w.threshold:.4g}", f.severity)  # fmt: skip
    out_console().print(table)
    for q in report.quality:
        typer.echo(f"quality: {q.column}: {q.kind}: {q.detail}")
    d = report.dataset
    typer.echo(
        f"{len(d.drifted)} of {len(report.features)} features drifted "
        f"({d.share_drifted:.0%}); dataset drift: {'yes' if d.is_drift else 'no'}"
    )


SystemArg = Annotated[str, typer.Argument(help="The system whose decisions are watched.")]


@app.command("set-baseline")
def set_baseline(
    ctx: typer.Context,
    system: SystemArg,
    reference: Annotated[
        Path, typer.Argument(help="Reference data (CSV/Parquet), or a baseline JSON.")
    ],
    actor: Annotated[str, typer.Option("--actor", help="Who does this (recorded).")],
    window_size: Annotated[
        int, typer.Option(help="Decisions per watched window (reference data only).")
    ] = 1000,
    action: Annotated[
        str | None, typer.Option(help="Watch only this action's decisions (e.g. predict).")
    ] = None,
    anomalies: Annotated[
        bool, typer.Option(help="Also fit an isolation forest (reference data only).")
    ] = True,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
) -> None:
    """Store a system's monitoring baseline (recorded in the ledger)."""
    base = _baseline(reference, window_size)
    detector = None
    if anomalies and reference.suffix.lower() != ".json":
        detector = AnomalyDetector.fit(read_table(reference), profile=base.profile)
    with open_tether(ctx) as t:
        index = t.monitor.set_baseline(system, base, anomalies=detector, action=action,
                                       actor=actor, reason=reason)  # fmt: skip
    typer.echo(
        f"baseline for {system}: {len(base.thresholds)} features, windows of "
        f"{base.window_size:,} decisions{', with anomaly detection' if detector else ''} "
        f"(ledger entry {index})"
    )


@app.command()
def watch(
    ctx: typer.Context,
    system: SystemArg,
    windows: Annotated[int, typer.Option(help="How many recent windows to show.")] = 5,
    size: Annotated[
        int | None, typer.Option(help="Decisions per window (default: the baseline's).")
    ] = None,
    emit: Annotated[
        bool, typer.Option(help="Raise the latest window's signals (recorded in the ledger).")
    ] = True,
    json_: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    report_: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write an HTML report: the latest window, drift "
            "and performance over the windows.",
        ),
    ] = None,
) -> None:
    """Check a system's recent windows of decisions against its baseline; list the
    signals that are active for it."""
    if windows < 1:
        raise InvalidInput("--windows must be at least 1")
    with open_tether(ctx) as t:
        stored = t.monitor.get(system)
        per = size or stored.baseline.window_size
        cut = t.monitor.windows(system, size=per, action=stored.action, last=windows * per)
        if not cut:
            raise InvalidInput(f"no recorded decisions of {system!r} yet: nothing to watch")
        reports = []
        with progress_bar("checking windows", len(cut)) as update:
            for i, w in enumerate(cut):
                reports.append(t.monitor.check(system, w, emit=emit and i == len(cut) - 1))
                update(i + 1, len(cut))
        active = t.signals.active(system)
        performance = t.feedback.performance(system) if report_ is not None else []
    if report_ is not None:
        base, latest = stored.baseline, reports[-1]
        columns = {n: v for n, v in latest.window.columns.items() if n in base.profile.columns}
        page = html_report(
            base, latest.drift, Profile.build(columns, reference=base.profile),
            title=f"{system}: {latest.window.label}",
            history=[(r.window.label, r.drift) for r in reports], performance=performance,
        )  # fmt: skip
        report_.write_text(page, encoding="utf-8")
    if json_:
        out = {"reports": [r.to_dict() for r in reports], "active": active}
        typer.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("window", "drifted", "anomalies", "quality", "signals")
    for r in reports:
        drifted = ", ".join(f"{f.feature} ({f.severity})" for f in r.drift.drifted()) or "-"
        a = r.anomalies
        anomalous = "-" if a is None else f"{a.rate:.1%}" + (f" ({a.severity})" * a.flagged)
        note = " (partial)" if r.partial else ""
        table.add_row(r.window.label + note, drifted, anomalous, str(len(r.drift.quality)),
                      ", ".join(sorted({s.kind for s in r.signals})) or "-")  # fmt: skip
    console = out_console()
    console.print(table)
    if active:
        console.print(f"active signals for {system}:")
        for s in active:
            console.print(f"  {s['kind']} {s['severity']}: {s['feature'] or '-'} "
                          f"{s['statistic']} = {s['value']:.4g}")  # fmt: skip
    else:
        console.print(f"no active signals for {system}")
