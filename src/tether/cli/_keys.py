"""``tether keys``: the ledger's signing key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tether.cli._common import open_tether

app = typer.Typer(help="The ledger's Ed25519 keys.", no_args_is_help=True)


@app.command("export-public")
def export_public(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
) -> None:
    """Print the verifier key auditors need to check checkpoints and receipts."""
    with open_tether(ctx, read_only=True) as t:
        vkey = t.ledger.verifier.vkey
    if output is None:
        typer.echo(vkey)
    else:
        output.write_text(vkey + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}")
