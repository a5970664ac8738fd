"""``tether monitor``: profiles, baselines and drift reports from files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from tether.cli._common import out_console
from tether.errors import InvalidInput
from tether.monitoring import Baseline, Profile, html_report
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
) -> None:
    """Compare a window with a reference: drifted features, quality findings."""
    window = read_table(current)
    rows = len(next(iter(window.values()))) if window else 0
    if rows == 0:
        raise InvalidInput(f"{current}: the window has no rows")
    if reference.suffix.lower() == ".json":
        text = reference.read_bytes()
        if b'"thresholds"' not in text:
            raise InvalidInput(
                f"{reference} is a profile, not a baseline: thresholds need the reference "
                "rows; run 'tether monitor baseline DATA --window-size N -o baseline.json'"
            )
        base = Baseline.from_json(text)
    else:
        base = Baseline.build(read_table(reference), window_size=rows)
    window_profile = Profile.build(window, reference=base.profile)
    report = base.check(window_profile, raw=window)
    if report_ is not None:
        page = html_report(base, report, window_profile, title=f"Drift: {current.name}")
        report_.write_text(page, encoding="utf-8")
    if json_:
        typer.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
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
