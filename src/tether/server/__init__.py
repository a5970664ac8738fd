"""The tether server: the HTTP API over one :class:`tether.Tether` (``tether serve``).

See docs/server.md for the endpoints, the error shape, tokens and roles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._lazy import lazy_exports

if TYPE_CHECKING:
    from tether.server._app import create_app
    from tether.server._tokens import Principal, Tokens

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Principal": "tether.server._tokens",
        "Tokens": "tether.server._tokens",
        "create_app": "tether.server._app",
    },
    globals(),
)

__all__ = ["Principal", "Tokens", "create_app"]
