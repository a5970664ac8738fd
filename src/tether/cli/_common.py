"""Helpers shared by the command modules."""

from __future__ import annotations

import getpass
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from tether.core import Tether
from tether.errors import InvalidInput
from tether.settings import Settings

__all__ = [
    "ByOpt",
    "by_or_login",
    "err_console",
    "open_tether",
    "out_console",
    "progress_bar",
    "settings_from",
    "utc_when",
]

ByOpt = Annotated[
    str | None,
    typer.Option("--by", help="Who does this (recorded; default cli:<login name>)."),
]


def by_or_login(by: str | None) -> str:
    """Who a CLI change is recorded as: ``--by``, else ``cli:<login name>``."""
    return by or f"cli:{getpass.getuser()}"


def utc_when(at: float | None) -> str:
    """A table cell for a time (empty for None).

    Example:
        >>> utc_when(0.0), utc_when(None)
        ('1970-01-01 00:00:00Z', '')
    """
    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def err_console() -> Console:
    """A console on stderr (created per call so tests can capture it)."""
    return Console(stderr=True)


def out_console() -> Console:
    """A console on stdout for tables (created per call so tests can capture it)."""
    return Console()


def settings_from(ctx: typer.Context) -> Settings:
    """Build settings from the environment plus the global ``--home``/``--database-url``."""
    root = ctx.find_root().obj or {}
    overrides: dict[str, Any] = {k: v for k, v in root.items() if v is not None}
    return Settings(**overrides)


def open_tether(ctx: typer.Context, *, read_only: bool = False) -> Tether:
    """Open the tether the command line points at."""
    return Tether.open(settings_from(ctx), read_only=read_only)


@contextmanager
def progress_bar(label: str, total: int) -> Any:
    """Yield ``update(done, total)``; draws a bar only when stderr is a terminal."""
    console = err_console()
    if not console.is_terminal:
        yield lambda done, total: None
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def read_stdin_json() -> bytes:
    """Return standard input, refusing an interactive terminal."""
    if sys.stdin.isatty():
        raise InvalidInput(
            "pipe the payload JSON on standard input, e.g. "
            'echo \'{"verdict": "allow"}\' | tether ledger append --kind decision --actor me'
        )
    return sys.stdin.buffer.read()
