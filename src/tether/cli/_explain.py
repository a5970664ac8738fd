"""``tether explain`` and ``tether fairness``: why a recorded model decision came out as
it did, and whether a file of decisions treats groups alike.

``tether fairness`` exits 1 when a judged group fails the four-fifths rule (the report
is printed first), so it can gate a pipeline, as ``tether policy test`` does; a report
with no group large enough to judge exits 0.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
import typer
from rich.markup import escape
from rich.table import Table

from tether.cli._common import open_tether, out_console
from tether.errors import InvalidInput
from tether.explain._explanation import number, signed
from tether.monitoring._io import read_table

__all__ = ["explain", "fairness"]

MISSING = "(missing)"


def explain(
    ctx: typer.Context,
    decision_id: Annotated[str, typer.Argument(help="The id of a recorded model decision.")],
    json_: Annotated[
        bool, typer.Option("--json", help="Print the explanation's canonical JSON.")
    ] = False,
    top: Annotated[int, typer.Option(help="How many features to rank and name.")] = 5,
    actor: Annotated[
        str, typer.Option(help="Who asks (recorded when the explanation is made now).")
    ] = "tether:explain",
) -> None:
    """Explain a recorded model decision: the features that moved its output.

    Made once from the model version the decision names and kept in the ledger (a
    decision.explained entry); asked again, the stored one."""
    with open_tether(ctx) as t:
        e = t.explanations.explain(decision_id, actor=actor, top=top)
        stored = t.explanations.stored(decision_id)
    if json_:
        typer.echo(e.to_json().decode())
        return
    console = out_console()
    console.print(e.sentence, markup=False, highlight=False, soft_wrap=True)
    table = Table("#", "feature", "value", "attribution", "effect")
    for i, a in enumerate(e.top, 1):
        way = "[red]lowers[/red]" if a.attribution < 0 else "[green]raises[/green]"
        table.add_row(str(i), escape(a.feature), number(a.value), signed(a.attribution),
                      way if a.attribution else "-")  # fmt: skip
    console.print(table)
    rest = len(e.attributions) - len(e.top)
    what = e.output if e.target is None else f"{e.output} of class {e.target}"
    lines = [
        f"{what}: {number(e.output_value)}; base value {number(e.base_value)}"
        + (f"; {rest} more feature(s) add {signed(_rest(e))}" if rest else ""),
        f"explainer: {e.explainer} ({e.library})",
    ]
    if stored is not None:
        lines.append(
            f"model: {stored.system} version {stored.version} (sha256 {stored.digest[:12]}...); "
            f"ledger entry {stored.ledger_index}"
        )
    for line in lines:
        console.print(line, markup=False, highlight=False)


def _rest(e: Any) -> float:
    named = {a.feature for a in e.top}
    return float(sum(a.attribution for a in e.attributions if a.feature not in named))


def fairness(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file of decisions.")],
    sensitive: Annotated[
        str, typer.Option(help="Sensitive columns, comma-separated (e.g. sex,age_band).")
    ],
    y_true: Annotated[
        str | None, typer.Option("--y-true", help="Column of true labels (optional).")
    ] = None,
    y_pred: Annotated[
        str | None, typer.Option("--y-pred", help="Column of decisions (1 = selected).")
    ] = None,
    score: Annotated[
        str | None, typer.Option(help="Column of scores, instead of --y-pred.")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="With --score: a score at or above it is selected.")
    ] = 0.5,
    positive: Annotated[
        str, typer.Option(help="The value of --y-pred/--y-true that means positive.")
    ] = "1",
    min_group: Annotated[
        int, typer.Option(help="Groups with fewer rows are reported, not judged.")
    ] = 30,
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fairness of a file of decisions per group: the four-fifths rule, equalized odds.

    Selection rates, impact ratios and true/false positive rates per group and
    intersection; exit 1 when a judged group's impact ratio is below 0.8."""
    from tether.explain.fairness import FOUR_FIFTHS, fairness_report

    if (y_pred is None) == (score is None):
        raise InvalidInput("give the decisions as --y-pred COLUMN or as --score COLUMN")
    names = [n.strip() for n in sensitive.split(",") if n.strip()]
    if not names:
        raise InvalidInput("--sensitive must name at least one column, e.g. --sensitive sex")
    table = read_table(data)
    wanted = [c for c in (y_true, y_pred, score, *names) if c is not None]
    for column in wanted:
        _column(table, column, data)
    if score is not None:
        scores = _numbers(table[score], score, data)
        predicted = (scores >= threshold).astype(np.int64)
    else:
        assert y_pred is not None
        predicted = _binary(table[y_pred], y_pred, positive, data)
    truth = None if y_true is None else _binary(table[y_true], y_true, positive, data)
    groups = {n: [_group(v) for v in table[n].tolist()] for n in names}
    report = fairness_report(truth, predicted, groups, min_group=min_group)
    missing = {n: sum(v == MISSING for v in values) for n, values in groups.items()}
    notes = [f"{n}: {k} row(s) have no value: group {MISSING}" for n, k in missing.items() if k]
    if json_:
        doc = report.to_dict()
        doc["notes"] += notes
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        _print_fairness(report, notes, FOUR_FIFTHS)
    if report.four_fifths_ok is False:
        raise typer.Exit(1)


def _print_fairness(report: Any, notes: list[str], floor: float) -> None:
    console = out_console()
    table = Table("group", "rows", "selection rate", "impact ratio", "TPR", "FPR", "four-fifths")
    for g in report.groups:
        ratio = "-" if g.impact_ratio is None else f"{g.impact_ratio:.3f}"
        if g.too_small:
            verdict = "too small"
        elif g.impact_ratio is None:
            verdict = "not judged"
        elif g.impact_ratio < floor:
            verdict, ratio = "[red]below 4/5[/red]", f"[red]{ratio}[/red]"
        else:
            verdict = "ok"
        table.add_row(escape(g.group), f"{g.size:,}", f"{g.selection_rate:.3f}", ratio,
                      _rate(g.true_positive_rate), _rate(g.false_positive_rate),
                      verdict)  # fmt: skip
    console.print(table)
    dims = Table("dimension", "judged groups", "reference", "min impact ratio",
                 "equalized-odds difference")  # fmt: skip
    for d in report.dimensions:
        dims.add_row(escape(d.dimension), str(d.judged), escape(d.reference or "-"),
                     _rate(d.min_impact_ratio), _rate(d.equalized_odds_difference))  # fmt: skip
    console.print(dims)
    for note in (*report.notes, *notes):
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    failing = [g for g in report.groups if g.four_fifths_ok is False]
    if failing:
        named = ", ".join(f"{g.group} ({g.impact_ratio:.3f})" for g in failing)
        console.print(f"four-fifths rule: FAILED for {named}", markup=False, highlight=False,
                      soft_wrap=True)  # fmt: skip
    elif report.four_fifths_ok:
        console.print("four-fifths rule: passed", markup=False, highlight=False)
    else:
        console.print("four-fifths rule: not judged (no two groups large enough)",
                      markup=False, highlight=False)  # fmt: skip


def _rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _column(table: dict[str, np.ndarray], name: str, data: Path) -> None:
    if name not in table:
        close = difflib.get_close_matches(name, list(table), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidInput(f"{data}: no column {name!r}{hint}; its columns are {', '.join(table)}")


def _numbers(values: np.ndarray, name: str, data: Path) -> np.ndarray:
    if values.dtype.kind != "f":
        raise InvalidInput(f"{data}: column {name!r} must hold numbers (scores)")
    gaps = int(np.isnan(values).sum())
    if gaps:
        raise InvalidInput(f"{data}: column {name!r} has {gaps} empty cell(s); drop those rows")
    return values


def _binary(values: np.ndarray, name: str, positive: str, data: Path) -> np.ndarray:
    """A 0/1 column: ``positive`` is 1, any one other value 0."""
    if values.dtype.kind == "f":
        try:
            target: Any = float(positive)
        except ValueError:
            raise InvalidInput(
                f"{data}: column {name!r} holds numbers; --positive {positive!r} is not one"
            ) from None
        gaps = int(np.isnan(values).sum())
    else:
        target = positive
        gaps = sum(v is None for v in values.tolist())
    if gaps:
        raise InvalidInput(f"{data}: column {name!r} has {gaps} empty cell(s); drop those rows")
    seen = sorted({_group(v) for v in values.tolist()})
    if len(seen) > 2 or (len(seen) == 2 and _group(target) not in seen):
        shown = ", ".join(seen[:5]) + (", ..." if len(seen) > 5 else "")
        raise InvalidInput(
            f"{data}: column {name!r} holds {shown}; it must be binary, with {positive!r} "
            "for positive (set --positive to the value that means selected)"
        )
    out: np.ndarray = (values == target).astype(np.int64)
    return out


def _group(value: Any) -> str:
    """A cell as a group name: 1.0 and 1 are one group, an empty cell its own."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
