"""``tether user``: console users (create, list, disable, unlock)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import ByOpt, by_or_login, open_tether, out_console, utc_when
from tether.errors import InvalidInput
from tether.server._users import MIN_PASSWORD, USER_ROLES, Users, check_password

app = typer.Typer(
    help="People who log in to the console: create, list, disable, unlock.",
    no_args_is_help=True,
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise InvalidInput("--password-stdin: no password on standard input")
        check_password(password)
        return password
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for the password: pipe it in with --password-stdin")
    password = getpass.getpass(f"password (at least {MIN_PASSWORD} characters): ")
    check_password(password)
    if getpass.getpass("the same password again: ") != password:
        raise InvalidInput("the two passwords differ; nothing was created")
    return password


@app.command()
def create(
    ctx: typer.Context,
    username: Annotated[str, typer.Option("--username", help="The login name (lowercase).")],
    actor: Annotated[
        str, typer.Option("--actor", help="The registered person they act as, e.g. user:ann.")
    ],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(USER_ROLES)}.")],
    system: Annotated[
        list[str] | None,
        typer.Option("--system", help="Limit them to this system (repeat; default all)."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
    by: ByOpt = None,
) -> None:
    """Create a console user; the password is asked twice (hidden) or read from stdin."""
    password = _password(password_stdin)
    with open_tether(ctx) as t:
        Users(t).create(username, actor, role, password, by=by_or_login(by), systems=system or None)
    scope = "all systems" if not system else ", ".join(sorted(set(system)))
    typer.echo(f"user {username} created: acts as {actor}, role {role}, {scope}")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every user: actor, role, scope, and whether disabled or locked."""
    with open_tether(ctx, read_only=True) as t:
        rows = Users(t).list()
        now = t.clock.now().timestamp()
    table = Table("username", "actor", "role", "systems", "created", "disabled", "locked until")
    for r in rows:
        locked = r.locked_until if r.locked_until is not None and r.locked_until > now else None
        scope = "all" if r.systems is None else ",".join(r.systems)
        table.add_row(r.username, r.actor, r.role, scope, utc_when(r.created_at),
                      utc_when(r.disabled_at), utc_when(locked))  # fmt: skip
    out_console().print(table)


@app.command()
def disable(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The username (tether user list).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    by: ByOpt = None,
) -> None:
    """Disable a user: their sessions end at once and they can no longer log in."""
    with open_tether(ctx) as t:
        Users(t).disable(username, by=by_or_login(by), reason=reason)
    typer.echo(f"user {username}: disabled")


@app.command()
def unlock(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The username (tether user list).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    by: ByOpt = None,
) -> None:
    """Lift a lockout (after too many failed logins) before it runs out."""
    with open_tether(ctx) as t:
        Users(t).unlock(username, by=by_or_login(by), reason=reason)
    typer.echo(f"user {username}: unlocked")
