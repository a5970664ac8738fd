"""``tether serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from tether.cli._common import settings_from
from tether.core import Tether
from tether.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

_HOME = "TETHER_HOME"
_URL = "TETHER_DATABASE_URL"


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
) -> None:
    """Serve the HTTP API (see docs/server.md); tokens come from 'tether token create'."""
    import uvicorn

    settings = settings_from(ctx)
    # Fail here, before binding, when the home or the database is not usable.
    Tether.open(settings).close()
    # Each worker process builds its own app from the environment (app_factory below).
    os.environ[_HOME] = str(settings.home)
    os.environ[_URL] = settings.resolved_database_url()
    uvicorn.run(
        "tether.cli._serve:app_factory", factory=True, host=host, port=port, workers=workers,
        log_level="info",
    )  # fmt: skip


def app_factory() -> FastAPI:
    """The app of one worker: a tether opened from ``TETHER_*``, closed at shutdown."""
    from tether.server import create_app

    return create_app(Tether.open(Settings()), close_tether=True)
