"""Pagination of every list: ``?limit=&cursor=`` in, ``{"items": [...], "next": ...}`` out."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Query

from tether.errors import InvalidInput

__all__ = ["Cursor", "Limit", "decode_cursor", "encode_cursor", "page"]

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=500, description="how many items at most")]
Cursor = Annotated[str | None, Query(max_length=200, description="the 'next' of the previous page")]


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the page starting at ``offset``.

    Example:
        >>> decode_cursor(encode_cursor(50))
        50
    """
    return base64.urlsafe_b64encode(orjson.dumps({"o": offset})).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for (0 for no cursor).

    Raises:
        InvalidInput: the cursor was not made by this server.
    """
    if not cursor:
        return 0
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = value["o"]
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput(f"cursor {cursor!r} is not valid: pass the 'next' of a previous page")
    return offset


def page(items: Sequence[Any], limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of ``items`` (already rendered) and the cursor of the next, or None."""
    start = decode_cursor(cursor)
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return {"items": chunk, "next": encode_cursor(start + limit) if more else None}
