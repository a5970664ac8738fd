"""``tether policy``: check and test policy files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import err_console
from tether.policy import Policy
from tether.policy._cases import load_cases, run_cases

app = typer.Typer(help="Policy as code: check, test.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="Policy file (YAML).", show_default=False)]


@app.command()
def check(file: FileArg) -> None:
    """Load and compile a policy; list every problem with file:line:column."""
    policy = Policy.from_file(file)
    effects = {
        e: sum(r.effect == e for r in policy.rules) for e in ("allow", "deny", "require_approval")
    }
    typer.echo(
        f"{file}: ok — policy {policy.name!r}, {len(policy.rules)} rules "
        f"({effects['allow']} allow, {effects['deny']} deny, "
        f"{effects['require_approval']} require_approval), {len(policy.actions)} actions, "
        f"{len(policy.systems)} systems"
    )
    typer.echo(f"version {policy.version}")


@app.command("test")
def run_tests(
    file: FileArg,
    cases: Annotated[Path, typer.Argument(help="Cases file (YAML).", show_default=False)],
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show passing cases too.")
    ] = False,
) -> None:
    """Run a table of requests against a policy; exit 1 on any mismatch."""
    policy = Policy.from_file(file)
    results = run_cases(policy, load_cases(cases))
    failed = [r for r in results if not r.passed]
    shown = results if verbose else failed
    if shown:
        table = Table("case", "where", "expected", "got", "reasons", title="policy test")
        for r in shown:
            expected = r.case.effect + (
                f" {list(r.case.rules)}" if r.case.rules is not None else ""
            )
            got = f"{r.verdict.effect} {list(r.verdict.rules)}"
            mark = "" if r.passed else "[red]✗[/] "
            table.add_row(
                mark + r.case.name, r.case.where, expected, got, "; ".join(r.verdict.reasons)
            )
        err_console().print(table) if failed else typer.echo(table)
    passed = len(results) - len(failed)
    typer.echo(f"{passed} passed, {len(failed)} failed ({policy.name} {policy.version[:19]})")
    if failed:
        raise typer.Exit(1)
