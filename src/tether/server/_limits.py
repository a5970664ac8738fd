"""Request size limit: bodies over the limit get 413 before anything parses them."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether.server._errors import error_body

__all__ = ["BodyLimit"]

_HINT = "send a smaller body"


class BodyLimit:
    """ASGI middleware refusing bodies larger than ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before the body is read;
    a body streamed without one is counted as it arrives and refused once over.

    Example:
        >>> from starlette.applications import Starlette
        >>> BodyLimit(Starlette(), max_bytes=10).max_bytes
        10
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # An HTTPException passes FastAPI's body parsing unchanged.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return f"the request body is over {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = error_body("PayloadTooLarge", self._message(), _HINT)
        await JSONResponse(body, status_code=413)(scope, receive, send)
