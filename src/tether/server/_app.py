"""``create_app(tether)``: routers, middleware and error handlers in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tether.core import Tether
from tether.server._errors import install_error_handlers
from tether.server._limits import BodyLimit
from tether.server._metrics import Metrics
from tether.server._tokens import Tokens
from tether.server.console import STATIC
from tether.server.console import routers as console_routers
from tether.server.console._web import SecurityHeaders
from tether.server.routes import (
    approvals,
    breakers,
    decisions,
    health,
    ledger,
    metrics,
    models,
    monitoring,
    outcomes,
    policies,
    signals,
)

__all__ = ["create_app"]

DEFAULT_MAX_BODY = 1_048_576


def create_app(
    tether: Tether, *, max_body_bytes: int = DEFAULT_MAX_BODY, close_tether: bool = False
) -> FastAPI:
    """The HTTP API over an open tether.

    The caller keeps ownership of ``tether`` and closes it, unless ``close_tether``
    hands it to the app, which then closes it when the server shuts down.

    Example:
        >>> from tether.testing import temporary_tether
        >>> from fastapi.testclient import TestClient
        >>> t = temporary_tether()
        >>> TestClient(create_app(t)).get("/healthz").json()
        {'status': 'ok'}
        >>> t.close()
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if close_tether:
            tether.close()

    app = FastAPI(
        lifespan=lifespan,
        title="tether",
        summary="Governed AI automation: decisions, approvals, breakers over HTTP.",
        version="1",
    )
    app.state.tether = tether
    app.state.tokens = Tokens(tether)
    app.state.metrics = Metrics(tether).install()
    for module in (
        health, decisions, approvals, breakers, metrics,
        outcomes, models, signals, monitoring, ledger, policies,
    ):  # fmt: skip
        app.include_router(module.router)
    for router in console_routers:
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app
