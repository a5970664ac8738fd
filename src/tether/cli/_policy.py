"""``tether policy``: check, test, publish and replay policies."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import err_console, open_tether, out_console
from tether.policy import Policy
from tether.policy import replay as replay_policy
from tether.policy._cases import load_cases, run_cases

app = typer.Typer(help="Policy as code: check, test, publish, replay.", no_args_is_help=True)

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
        err_console().print(table) if failed else out_console().print(table)
    passed = len(results) - len(failed)
    typer.echo(f"{passed} passed, {len(failed)} failed ({policy.name} {policy.version[:19]})")
    if failed:
        raise typer.Exit(1)


ActorOpt = Annotated[str, typer.Option("--actor", help="Who does this (recorded in the ledger).")]


@app.command()
def publish(
    ctx: typer.Context,
    file: FileArg,
    actor: ActorOpt,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Evaluate beside the enforced policy; enforce nothing.")
    ] = False,
) -> None:
    """Publish a policy (its hash and text go in the ledger); it is enforced at once."""
    policy = Policy.from_file(file)
    with open_tether(ctx) as t:
        pub = t.policies.publish(policy, actor=actor, mode="shadow" if shadow else "enforced")
    mode = "shadow" if shadow else "enforced"
    typer.echo(
        f"published {pub.name} as version {pub.version} ({mode}), sha256 {pub.sha256[:16]}…, "
        f"ledger index {pub.ledger_index}"
    )


@app.command("clear-shadow")
def clear_shadow(ctx: typer.Context, actor: ActorOpt) -> None:
    """Stop evaluating the shadow policy."""
    with open_tether(ctx) as t:
        t.policies.clear_shadow(actor=actor)
    typer.echo("shadow policy cleared")


@app.command()
def replay(
    ctx: typer.Context,
    file: FileArg,
    since: Annotated[
        datetime | None, typer.Option(help="Only decisions from this time on (ISO 8601, UTC).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many changes.")] = 50,
) -> None:
    """Backtest a candidate policy: every recorded decision whose verdict would change."""
    candidate = Policy.from_file(file)
    when = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
    with open_tether(ctx, read_only=True) as t:
        report = replay_policy(t, candidate, since=when)
    if report.changes:
        table = Table("index", "time", "system", "action", "actor", "before", "after")
        for c in report.changes[:limit]:
            table.add_row(
                str(c.index), c.timestamp[:19], c.system, c.action, c.actor,
                f"{c.before} {list(c.before_rules)}", f"{c.after} {list(c.after_rules)}",
            )  # fmt: skip
        out_console().print(table)
        if len(report.changes) > limit:
            typer.echo(f"… and {len(report.changes) - limit} more")
    typer.echo(report.summary())
