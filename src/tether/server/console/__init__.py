"""The oversight console: server-rendered pages under ``/console`` (no build step, no CDN).

Each page module defines ``router`` (an ``APIRouter`` with prefix ``/console``, kept out of
the OpenAPI schema); :data:`routers` is what :func:`tether.server.create_app` includes.
Static assets (CSS, a little JavaScript) live in ``static/`` inside the package and are
served at ``/console/static/``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from tether.server.console import approvals, auth, breakers, decisions, monitoring, overview

__all__ = ["STATIC", "routers"]

STATIC = Path(__file__).parent / "static"

routers: tuple[APIRouter, ...] = tuple(
    m.router for m in (auth, overview, decisions, approvals, monitoring, breakers)
)
