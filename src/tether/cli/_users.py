"""``tether user``: console users (create, list, disable, unlock)."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import open_tether, out_console
from tether.errors import InvalidInput
from tether.server._users import MIN_PASSWORD, USER_ROLES, Users, check_password

app = typer.Typer(
    help="People who log in to the console: create, list, disable, unlock.",
    no_args_is_help=True,
)

ByOpt = Annotated[
    str | None,
    typer.Option("--by", help="Who does this (recorded; default cli:<login name>)."),
]


def _by(by: str | None) -> str:
    return by or f"cli:{getpass.getuser()}"


def _when(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


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
        Users(t).create(username, actor, role, password, by=_by(by), systems=system or None)
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
        table.add_row(r.username, r.actor, r.role,
                      "all" if r.systems is None else ",".join(r.systems),
                      _when(r.created_at), _when(r.disabled_at), _when(locked))  # fmt: skip
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
        Users(t).disable(username, by=_by(by), reason=reason)
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
        Users(t).unlock(username, by=_by(by), reason=reason)
    typer.echo(f"user {username}: unlocked")
