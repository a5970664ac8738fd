"""``tether token``: API tokens of the server (create, list, revoke)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import ByOpt, by_or_login, open_tether, out_console, utc_when
from tether.errors import InvalidInput
from tether.policy import parse_duration
from tether.server._tokens import ROLES, Tokens

app = typer.Typer(help="API tokens of the server: create, list, revoke.", no_args_is_help=True)


def _lifetime(expires: str | None) -> timedelta | None:
    if expires is None:
        return None
    try:
        return timedelta(seconds=parse_duration(expires))
    except ValueError as exc:
        raise InvalidInput(f"--expires {exc}") from None


@app.command()
def create(
    ctx: typer.Context,
    actor: Annotated[str, typer.Option("--actor", help="The registered actor it speaks for.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
    system: Annotated[
        list[str] | None,
        typer.Option("--system", help="Scope it to this system (repeat; default all)."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime: 90s, 30m, 4h, 30d, 1w.")
    ] = None,
    by: ByOpt = None,
) -> None:
    """Create a token; its secret is printed this once and never stored."""
    with open_tether(ctx) as t:
        token_id, secret = Tokens(t).create(
            actor, role, by=by_or_login(by), systems=system or None, expires=_lifetime(expires)
        )
    typer.echo(f"token {token_id} for {actor} ({role})")
    typer.echo(secret)
    typer.echo("store the secret now: it is not shown again", err=True)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every token: actor, role, scope, expiry and whether it is revoked."""
    with open_tether(ctx, read_only=True) as t:
        rows = Tokens(t).list()
    table = Table("token", "actor", "role", "systems", "created", "expires", "revoked")
    for r in rows:
        scope = "all" if r.systems is None else ",".join(r.systems)
        table.add_row(r.id, r.actor, r.role, scope, utc_when(r.created_at),
                      utc_when(r.expires_at), utc_when(r.revoked_at))  # fmt: skip
    out_console().print(table)


@app.command()
def revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token id (tether token list).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    by: ByOpt = None,
) -> None:
    """Revoke a token: from now on it authenticates nothing."""
    with open_tether(ctx) as t:
        Tokens(t).revoke(token_id, by=by_or_login(by), reason=reason)
    typer.echo(f"token {token_id}: revoked")
