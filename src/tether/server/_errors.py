"""The one place where exceptions become HTTP statuses and JSON error bodies.

Domain errors carry no HTTP codes (ARCHITECTURE.md §4); this table maps their types.
The most specific class wins (``RateLimited`` before ``ActionDenied``)::

    exception                                   status
    Unauthenticated (server)                    401  + WWW-Authenticate: Bearer
    Forbidden (server)                          403
    MalformedBody (server)                      400  the body is not JSON
    PayloadTooLarge (server)                    413  the body is over the limit
    RequestValidationError (FastAPI)            422  wrong type, missing or unknown field
    InvalidInput, PolicyError                   422  well-formed but not acceptable
    NotFound                                    404
    Conflict                                    409  the state changed: reload, retry
    RateLimited                                 429  + Retry-After
    ActionDenied and its other subclasses       403  (ApprovalRequired, CircuitOpen, ...)
    VerificationError                           422
    StoreError, SchemaVersionError              503  the database cannot serve us
    ConfigurationError, any other exception     500  details logged, never returned

Every error body is ``{"error": {"type": ..., "message": ..., "hint": ...}}``, plus
``approval_id`` for ``ApprovalRequired`` (the approval to poll, then send back) and
``problems`` (one line each) for ``PolicyError``.

Under ``/console`` (the server-rendered pages, not their static assets) the same
statuses answer in HTML instead: 401 redirects to the login page, every other error
renders ``error.html`` with the message and the hint.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tether.errors import (
    ActionDenied,
    ApprovalRequired,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    PolicyError,
    RateLimited,
    StoreError,
    TetherError,
    VerificationError,
)

__all__ = [
    "Forbidden",
    "MalformedBody",
    "PayloadTooLarge",
    "Unauthenticated",
    "error_body",
    "install_error_handlers",
    "status_for",
]

log = logging.getLogger("tether.server")


class Unauthenticated(TetherError, PermissionError):
    """No token, or a token that is unknown, expired or revoked."""


class Forbidden(TetherError, PermissionError):
    """The token is valid, but its role or system scope does not cover the request."""


class MalformedBody(InvalidInput):
    """The request body is not valid JSON."""


class PayloadTooLarge(InvalidInput):
    """The request body is larger than the server accepts."""


# Most specific first: the first class the exception is an instance of decides.
_STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (Unauthenticated, 401, "send 'Authorization: Bearer <token>' (tether token create)"),
    (Forbidden, 403, "use a token whose role and systems cover this request"),
    (MalformedBody, 400, "send a JSON body with 'Content-Type: application/json'"),
    (PayloadTooLarge, 413, "send a smaller body"),
    (NotFound, 404, "check the id or name"),
    (Conflict, 409, "reload the object and retry"),
    (RateLimited, 429, "retry after the number of seconds in Retry-After"),
    (ActionDenied, 403, "the governance pipeline refused this action; see the message"),
    (VerificationError, 422, "the data does not verify; do not trust it"),
    (InvalidInput, 422, "fix the request as the message says"),
    (StoreError, 503, "the database is unavailable; retry later"),
    (ConfigurationError, 500, "the server is misconfigured; see its log"),
)


def status_for(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and hint for an exception (500 for anything unexpected).

    Example:
        >>> status_for(NotFound("no approval 'x'"))
        (404, 'check the id or name')
        >>> status_for(KeyError("boom"))[0]
        500
    """
    for cls, status, hint in _STATUS:
        if isinstance(exc, cls):
            return status, hint
    return 500, "an internal error; see the server log"


def error_body(kind: str, message: str, hint: str) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": {"type": kind, "message": message, "hint": hint}}


def error_response(exc: BaseException) -> JSONResponse:
    """The response for an exception, by the table above."""
    status, hint = status_for(exc)
    if status >= 500 and not isinstance(exc, StoreError):
        # Internal details (paths, SQL, keys) stay in the log, not in the response.
        log.error("internal error", exc_info=exc)
        body = error_body("InternalError", "internal error", hint)
    else:
        body = error_body(type(exc).__name__, " ".join(str(exc).split()), hint)
        body["error"].update(_details(exc))
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return JSONResponse(body, status_code=status, headers=headers)


def _details(exc: BaseException) -> dict[str, Any]:
    """Fields a client acts on, beside the message: the approval to ask for and poll,
    every problem of a policy that does not load."""
    if isinstance(exc, ApprovalRequired) and exc.approval_id:
        return {"approval_id": exc.approval_id}
    if isinstance(exc, PolicyError):
        return {"problems": list(exc.problems)}
    return {}


_HTTP_TYPES = {
    400: "BadRequest",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
}


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return 400, "MalformedBody", f"the body is not valid JSON: {first.get('msg', '')}"
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
    field = ".".join(loc) or "body"
    msg = str(first.get("msg", "invalid"))
    if first.get("type") == "extra_forbidden":
        msg = "unknown field; remove it"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return 422, "InvalidInput", f"{field}: {msg}{more}"


def _console(request: Request) -> bool:
    """True for the console's pages, which answer errors in HTML (not static assets)."""
    path = request.url.path
    return (path == "/console" or path.startswith("/console/")) and not path.startswith(
        "/console/static/"
    )


def _console_page(request: Request, status: int, kind: str, message: str, hint: str) -> Any:
    # Imported here: the console imports this module (Forbidden, Unauthenticated).
    from tether.server.console._web import error_page

    return error_page(request, status, kind, message, hint)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the one JSON shape (an HTML page,
    or a redirect to the login page, under ``/console``)."""

    async def on_tether_error(request: Request, exc: Exception) -> Any:
        response = error_response(exc)
        if _console(request):
            body = orjson.loads(bytes(response.body))["error"]
            return _console_page(
                request, response.status_code, body["type"], body["message"], body["hint"]
            )
        return response

    async def on_validation(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, RequestValidationError)
        status, kind, message = _validation_message(exc)
        hint = (
            "send a JSON body with 'Content-Type: application/json'"
            if status == 400
            else "see /openapi.json for the fields, their types and which are required"
        )
        if _console(request):
            return _console_page(request, status, kind, message, "correct the form and retry")
        return JSONResponse(error_body(kind, message, hint), status_code=status)

    async def on_http(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        kind = _HTTP_TYPES.get(exc.status_code, "HTTPError")
        if _console(request):
            hint = "use the navigation; the address may be mistyped"
            return _console_page(request, exc.status_code, kind, str(exc.detail), hint)
        body = error_body(kind, str(exc.detail), "see /openapi.json for the endpoints")
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(TetherError, on_tether_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_tether_error)
