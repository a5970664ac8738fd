"""``tether serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import gc
import importlib.util
import os
import socket
from typing import TYPE_CHECKING, Annotated

import typer

from tether.cli._common import settings_from
from tether.core import Tether
from tether.errors import ConfigurationError
from tether.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

_HOME = "TETHER_HOME"
_URL = "TETHER_DATABASE_URL"
_APP = "tether.cli._serve:app_factory"


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    otel: Annotated[
        bool,
        typer.Option(
            "--otel",
            help="A span per decision through your OpenTelemetry SDK set-up (tether[otel]; "
            "same as TETHER_OTEL=true).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API and the console (see docs/server.md); tokens come from 'tether
    token create', console logins from 'tether user create'."""
    import uvicorn

    settings = settings_from(ctx)
    if otel or settings.otel:
        if importlib.util.find_spec("opentelemetry") is None:
            raise ConfigurationError(
                "--otel (TETHER_OTEL) needs OpenTelemetry, which is not installed: "
                "pip install 'tether[otel]'"
            )
        os.environ["TETHER_OTEL"] = "true"  # every worker process reads it
    # Fail here, before binding, when the home or the database is not usable.
    Tether.open(settings).close()
    # Each worker process builds its own app from the environment (app_factory below).
    os.environ[_HOME] = str(settings.home)
    os.environ[_URL] = settings.resolved_database_url()
    if workers == 1:
        uvicorn.run(_APP, factory=True, host=host, port=port, log_level="info")
    else:
        _run_workers(host, port, workers)


def _run_workers(host: str, port: int, workers: int) -> None:
    """``uvicorn.run(..., workers=N)``, with a listening socket that says it is TCP."""
    from uvicorn import Config
    from uvicorn.supervisors import Multiprocess

    config = Config(_APP, factory=True, host=host, port=port, workers=workers,
                    log_level="info")  # fmt: skip
    Multiprocess(config, sockets=[_as_tcp(config.bind_socket())]).run()


def _as_tcp(sock: socket.socket) -> socket.socket:
    """The bound socket ``sock``, re-wrapped so that it says it is TCP.

    uvicorn binds the socket its workers share with ``proto`` 0; accepted connections
    inherit it, and asyncio sets ``TCP_NODELAY`` only on sockets whose ``proto`` is TCP,
    so with ``--workers`` every keep-alive response after the first waited ~40 ms for
    the client's delayed ACK (Kludex/uvicorn#3149). Same file descriptor, right label.

    Example:
        >>> bound = socket.socket()
        >>> bound.bind(("127.0.0.1", 0))
        >>> tcp = _as_tcp(bound)
        >>> (tcp.proto == socket.IPPROTO_TCP, tcp.get_inheritable())
        (True, True)
        >>> tcp.close()
    """
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto != 0:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, sock.detach())
    tcp.set_inheritable(True)
    return tcp


def app_factory() -> FastAPI:
    """The app of one worker: a tether opened from ``TETHER_*``, closed at shutdown.

    Everything made so far (the imported modules, the app) lives as long as the
    process, so it is moved out of the garbage collector's sight (``gc.freeze``): a
    full collection would otherwise walk those ~200,000 objects again and again,
    stalling every request in flight for ~100 ms each time.
    """
    from tether.server import create_app

    t = Tether.open(Settings())
    if t.settings.otel:
        from tether.adapters.otel import instrument

        instrument(t)  # spans go to the global tracer provider the user configured
    app = create_app(t, close_tether=True)
    gc.collect()
    gc.freeze()
    return app
