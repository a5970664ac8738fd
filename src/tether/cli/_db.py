"""``tether db``: the store's schema."""

from __future__ import annotations

import typer

from tether.cli._common import settings_from
from tether.store.engine import open_store, upgrade

app = typer.Typer(help="The database: schema migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(ctx: typer.Context) -> None:
    """Apply pending schema migrations (opening tether does this too)."""
    settings = settings_from(ctx)
    store = open_store(settings.resolved_database_url(), migrate=False, create=False)
    try:
        typer.echo(f"schema at revision {upgrade(store, create=False)}")
    finally:
        store.close()
