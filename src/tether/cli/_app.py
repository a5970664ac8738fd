"""Assemble the CLI and turn TetherErrors into one clear line and a non-zero exit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from tether.cli import (
    _approvals,
    _breakers,
    _db,
    _demo,
    _explain,
    _inventory,
    _keys,
    _ledger,
    _monitor,
    _policy,
    _registry,
    _serve,
    _tokens,
    _users,
)
from tether.cli._common import err_console, settings_from
from tether.core import Tether
from tether.errors import PolicyError, TetherError

__all__ = ["app", "main"]

app = typer.Typer(
    name="tether",
    help="Governed AI automation: policy, approvals, monitoring and a tamper-evident ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_ledger.app, name="ledger")
app.add_typer(_db.app, name="db")
app.add_typer(_keys.app, name="keys")
app.add_typer(_policy.app, name="policy")
app.add_typer(_approvals.app, name="approvals")
app.add_typer(_breakers.app, name="breakers")
app.add_typer(_inventory.systems, name="systems")
app.add_typer(_inventory.actors, name="actors")
app.add_typer(_monitor.app, name="monitor")
app.add_typer(_registry.registry, name="registry")
app.add_typer(_registry.gates, name="gates")
app.add_typer(_tokens.app, name="token")
app.add_typer(_users.app, name="user")
app.command("demo")(_demo.demo)
app.command("explain")(_explain.explain)
app.command("fairness")(_explain.fairness)
app.command("serve")(_serve.serve)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option(help="TETHER_HOME: folder of the SQLite file and keys.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="TETHER_DATABASE_URL: SQLAlchemy URL of the store.")
    ] = None,
) -> None:
    """Governed AI automation: policy, approvals, monitoring and a tamper-evident ledger."""
    ctx.obj = {"home": home, "database_url": database_url}


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the home, the ledger's Ed25519 key pair and the database (idempotent)."""
    settings = settings_from(ctx)
    with Tether.init(settings) as t:
        typer.echo(f"initialised {settings.home} (log {t.ledger.origin})")
        typer.echo(f"public key: {settings.public_key_path}")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a TetherError ends it with ``error: ...`` on stderr and exit 1."""
    try:
        app(args=argv, prog_name="tether")
    except PolicyError as exc:
        # One line per problem, each with its file:line:column.
        for problem in exc.problems:
            message = " ".join(problem.split())
            err_console().print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except TetherError as exc:
        # One line, whatever the message (driver errors may carry newlines).
        message = " ".join(str(exc).split())
        err_console().print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        err_console().print(
            f"error: setting TETHER_{where.upper()}: {first['msg']}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
