"""Rendering console pages: one Jinja environment (autoescaped) over ``templates/``.

CONTRACT (page modules rely on it):

``render(request, template, user, /, **context) -> HTMLResponse``
    Renders ``templates/<template>`` with ``context`` plus: ``user`` (the
    :class:`~tether.server.Principal` or None), ``csrf_token`` (the session's, for every
    POST form as a hidden field named ``csrf_token``), ``request``, ``now`` (epoch
    seconds on the tether clock) and ``flash`` (the message a :func:`redirect` carried,
    shown once by ``base.html``). Templates extend ``base.html`` and fill
    ``{% block title %}`` and ``{% block content %}``; the context variable ``nav``
    names the active navigation entry: ``overview``, ``decisions``, ``approvals``,
    ``monitoring`` or ``breakers``. To answer with another status, set
    ``response.status_code`` on the result.
    Filters: ``ts`` (epoch seconds -> ``2026-11-29 08:30:17 UTC``), ``ago``
    (epoch seconds -> ``3 min ago``), ``json`` (pretty, escaped JSON).
``redirect(url, *, flash=None) -> RedirectResponse``
    A 303 redirect (POST-redirect-GET); ``flash`` is shown once on the next page.

Every response under ``/console`` carries security headers (:class:`SecurityHeaders`):
a Content-Security-Policy that allows only same-origin scripts, styles and images, and
no inline scripts, ``<style>`` elements or ``style=""`` attributes (put CSS in
``static/console.css`` and JavaScript in ``static/*.js``), ``X-Frame-Options: DENY``,
and ``Cache-Control: no-store`` on pages (not on static assets).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether.server._tokens import Principal
from tether.server.console._session import console_user

__all__ = [
    "FLASH_COOKIE",
    "TEMPLATES",
    "SecurityHeaders",
    "ago",
    "error_page",
    "redirect",
    "render",
    "ts",
]

TEMPLATES = Path(__file__).parent / "templates"
FLASH_COOKIE = "tether_flash"
NAV = (
    ("overview", "Overview", "/console/"),
    ("decisions", "Decisions", "/console/decisions"),
    ("approvals", "Approvals", "/console/approvals"),
    ("monitoring", "Monitoring", "/console/monitoring"),
    ("breakers", "Breakers", "/console/breakers"),
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def ts(value: float | None) -> str:
    """Epoch seconds as a UTC timestamp (``—`` for None).

    Example:
        >>> ts(1795941017.5)
        '2026-11-29 08:30:17 UTC'
        >>> ts(None)
        '—'
    """
    if value is None:
        return "—"
    return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: float | None, now: float) -> str:
    """How long before ``now`` an instant was, in words.

    Example:
        >>> ago(1000.0, 1180.0), ago(1000.0, 1003.0), ago(0.0, 7200.0), ago(100.0, 40.0)
        ('3 min ago', 'just now', '2 h ago', 'in 1 min')
    """
    if value is None:
        return "—"
    delta = now - float(value)
    span = abs(delta)
    if span < 10:
        return "just now"
    for unit, seconds in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if span >= seconds:
            amount = f"{int(span // seconds)} {unit}"
            break
    return f"{amount} ago" if delta > 0 else f"in {amount}"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@pass_context
def _ago(context: Context, value: float | None) -> str:
    return ago(value, float(context.get("now", 0.0)))


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
_env.filters["ts"] = ts
_env.filters["ago"] = _ago
_env.filters["json"] = _json
_env.globals["NAV"] = NAV


def render(
    request: Request, template: str, user: Principal | None, /, **context: Any
) -> HTMLResponse:
    """Render a console page (see the module docstring for what templates get)."""
    session = getattr(request.state, "console_session", None)
    csrf = session.csrf if session is not None else getattr(request.state, "login_csrf", "")
    flash = _read_flash(request)
    clock = request.app.state.tether.clock
    values: dict[str, Any] = {"nav": None, "flash": flash}
    values.update(context)
    values.update(user=user, csrf_token=csrf, request=request, now=clock.now().timestamp())
    response = HTMLResponse(_env.get_template(template).render(values))
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/console", secure=True, httponly=True,
                               samesite="strict")  # fmt: skip
    return response


def redirect(url: str, *, flash: str | None = None) -> RedirectResponse:
    """A 303 redirect to ``url`` (a console path); ``flash`` is shown once there.

    Example:
        >>> r = redirect("/console/breakers", flash="Breaker system:loans tripped")
        >>> r.status_code, r.headers["location"]
        (303, '/console/breakers')
    """
    response = RedirectResponse(url, status_code=303)
    if flash:
        value = base64.urlsafe_b64encode(flash[:500].encode("utf-8")).decode("ascii")
        response.set_cookie(FLASH_COOKIE, value, max_age=300, path="/console", secure=True,
                            httponly=True, samesite="strict")  # fmt: skip
    return response


def _read_flash(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        return base64.urlsafe_b64decode(raw.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None


def error_page(request: Request, status: int, kind: str, message: str, hint: str) -> Response:
    """The HTML answer to an error under ``/console``: a redirect to the login page
    for 401, else ``error.html`` with the message and the hint."""
    if status == 401:
        target = "/console/"
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/console/login?next={quote(target, safe='/')}", 303)
    user = getattr(request.state, "console_user", None)
    if user is None:  # e.g. a 404 before any dependency ran: show the header if logged in
        with contextlib.suppress(Exception):
            user = console_user(request)
    try:
        response: Response = render(
            request, "error.html", user, status=status, kind=kind, message=message, hint=hint
        )
    except Exception:  # the error page itself must not fail: plain text then
        response = HTMLResponse(f"<h1>{status}</h1>", status_code=status)
    response.status_code = status
    # A 500 is answered outside the middleware that adds these: add them here.
    for name, value in _security_headers(static=False):
        response.headers[name] = value
    return response


def _security_headers(static: bool) -> list[tuple[str, str]]:
    """The headers of every console response (pages are never cached)."""
    headers = [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ]
    return headers if static else [*headers, ("cache-control", "no-store")]


class SecurityHeaders:
    """ASGI middleware: security headers on every response under ``/console``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/console" or path.startswith("/console/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith("/console/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [
                    (name.encode(), value.encode())
                    for name, value in _security_headers(static)
                    if name.encode() not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
