"""``tether breakers``: circuit breakers and kill switches."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import open_tether, out_console

app = typer.Typer(help="Circuit breakers and kill switches.", no_args_is_help=True)

KeyArg = Annotated[
    str, typer.Argument(help="system:NAME, action:SYSTEM/ACTION or agent:ID", show_default=False)
]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who does this (recorded).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (required, recorded).")]


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every breaker that ever tripped, and its state."""
    with open_tether(ctx) as t:
        rows = t.breakers.list()
    table = Table("breaker", "state", "manual", "reason")
    for r in rows:
        table.add_row(r.key, r.state, "kill switch" if r.manual else "", r.reason)
    out_console().print(table)


@app.command()
def trip(ctx: typer.Context, key: KeyArg, actor: ActorOpt, reason: ReasonOpt) -> None:
    """Stop a system, an action or an agent now (stays open until reset)."""
    with open_tether(ctx) as t:
        t.breakers.trip(key, actor=actor, reason=reason)
    typer.echo(f"{key}: open (kill switch)")


@app.command()
def reset(ctx: typer.Context, key: KeyArg, actor: ActorOpt, reason: ReasonOpt) -> None:
    """Close a breaker."""
    with open_tether(ctx) as t:
        t.breakers.reset(key, actor=actor, reason=reason)
    typer.echo(f"{key}: closed")
