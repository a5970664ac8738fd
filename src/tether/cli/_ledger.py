"""``tether ledger``: append, read, prove, verify, erase and export ledger entries."""

from __future__ import annotations

import base64
import getpass
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tether.cli._common import open_tether, progress_bar, read_stdin_json
from tether.errors import InvalidInput
from tether.ledger import (
    Checkpoint,
    Entry,
    Receipt,
    load_verifier,
    verify_ledger,
    verify_receipt,
)

app = typer.Typer(help="The tamper-evident ledger.", no_args_is_help=True)


def _dump(obj: object) -> None:
    typer.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode())


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput(f"{what} file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {what} file {path}: {exc}") from exc


@app.command()
def append(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option(help="Entry kind, e.g. decision or policy.published.")],
    actor: Annotated[str, typer.Option(help="Who acted, e.g. svc:loan-api or human:ana.")],
    subject: Annotated[str | None, typer.Option(help="What the entry is about.")] = None,
) -> None:
    """Append an entry; the payload JSON comes on standard input. Prints the index."""
    raw = read_stdin_json()
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"payload on standard input is not JSON: {exc}") from exc
    with open_tether(ctx) as t:
        typer.echo(str(t.ledger.append(kind, actor, payload, subject=subject).index))


@app.command()
def show(ctx: typer.Context, index: int) -> None:
    """Print one entry and its payload as JSON."""
    with open_tether(ctx, read_only=True) as t:
        _dump(t.ledger.get(index).to_dict())


@app.command()
def tail(
    ctx: typer.Context,
    n: Annotated[int, typer.Option("-n", help="How many entries.")] = 10,
) -> None:
    """Show the last N entries."""
    with open_tether(ctx, read_only=True) as t:
        entries = t.ledger.tail(n)
    table = Table("index", "timestamp", "kind", "actor", "subject", "payload")
    for e in entries:
        payload = "(erased)" if e.erased else orjson.dumps(e.payload).decode()
        table.add_row(str(e.index), e.timestamp, e.kind, e.actor, e.subject or "", payload[:60])
    Console().print(table)


@app.command()
def checkpoint(ctx: typer.Context) -> None:
    """Sign a checkpoint of the current tree and print it (C2SP signed note)."""
    with open_tether(ctx) as t:
        typer.echo(t.ledger.checkpoint().note, nl=False)


@app.command()
def verify(
    ctx: typer.Context,
    checkpoint_file: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="A checkpoint you kept; the log must match it."),
    ] = None,
) -> None:
    """Recompute the whole log and check it; exit 1 and name the first bad index if not."""
    with open_tether(ctx, read_only=True) as t:
        extra = None
        if checkpoint_file is not None:
            extra = Checkpoint.open(_read_text(checkpoint_file, "checkpoint"), t.ledger.verifier)
        with progress_bar("verifying", t.ledger.size) as update:
            report = verify_ledger(t.store, t.ledger.verifier, extra=extra, progress=update)
    typer.echo(report.summary())
    for problem in report.problems[1:]:
        typer.echo(f"  also: {problem.message}", err=True)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def proof(ctx: typer.Context, index: int) -> None:
    """Print a receipt for entry INDEX: verifiable offline with the public key."""
    with open_tether(ctx) as t:
        typer.echo(t.ledger.receipt(index).to_json(), nl=False)


@app.command("verify-receipt")
def verify_receipt_cmd(
    receipt_file: Path,
    public_key: Annotated[Path, typer.Option(help="The log's verifier key file.")],
) -> None:
    """Check a receipt offline: needs no database, only the public key."""
    verifier = load_verifier(public_key)
    receipt = Receipt.from_json(_read_text(receipt_file, "receipt"))
    entry = verify_receipt(receipt, verifier)
    typer.echo(
        f"receipt valid: entry {entry.index} ({entry.kind} by {entry.actor} at "
        f"{entry.timestamp}) is in log {verifier.name} of {receipt.tree_size} entries"
    )


@app.command()
def consistency(ctx: typer.Context, old_checkpoint_file: Path) -> None:
    """Prove that the current log extends an older checkpoint (it was only appended to)."""
    with open_tether(ctx) as t:
        old = Checkpoint.open(_read_text(old_checkpoint_file, "checkpoint"), t.ledger.verifier)
        new, proof_hashes = t.ledger.prove_extends(old)
    _dump(
        {
            "old_size": old.size,
            "new_size": new.size,
            "proof": [base64.b64encode(h).decode() for h in proof_hashes],
            "checkpoint": new.note,
        }
    )


@app.command()
def erase(
    ctx: typer.Context,
    index: int,
    reason: Annotated[str, typer.Option(help="Why (retention rule, erasure request id).")],
    actor: Annotated[str | None, typer.Option(help="Who erases; default human:<user>.")] = None,
) -> None:
    """Delete the payload of entry INDEX; the entry and the log's proofs stay valid."""
    with open_tether(ctx) as t:
        entry = t.ledger.erase(index, reason, actor or f"human:{getpass.getuser()}")
    typer.echo(f"erased payload of entry {index}; recorded as entry {entry.index}")


@app.command()
def export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="Output format: jsonl.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export every entry, with payload and raw canonical bytes, one JSON per line."""
    if fmt != "jsonl":
        raise InvalidInput(f"export format {fmt!r} is not supported; use --format jsonl")
    with open_tether(ctx, read_only=True) as t:
        size = t.ledger.size
        sink = sys.stdout.buffer if output is None else output.open("wb")
        try:
            with progress_bar("exporting", size) as update:
                for entry in t.ledger.iter_entries():
                    sink.write(orjson.dumps(_export_row(entry)) + b"\n")
                    if entry.index % 10_000 == 0:
                        update(entry.index, size)
        finally:
            if output is not None:
                sink.close()


def _export_row(entry: Entry) -> dict[str, object]:
    row = entry.to_dict()
    row["entry"] = entry.raw.decode()
    row["leaf_hash"] = entry.leaf_hash.hex()
    return row


__all__ = ["app"]
