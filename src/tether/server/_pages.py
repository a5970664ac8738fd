"""Pagination of every list: ``?limit=&cursor=`` in, ``{"items": [...], "next": ...}`` out.

Small lists page by offset (:func:`page`); the decision feed pages by key (the ledger
index of the last item, :func:`encode_key`), so a page stays correct and fast however
many decisions are recorded meanwhile. Both cursors are opaque to clients. Time filters
(``?since=&until=``) are ISO-8601 instants with an offset (:func:`parse_instant`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Query

from tether.errors import InvalidInput

__all__ = [
    "Cursor",
    "Instant",
    "Limit",
    "decode_cursor",
    "decode_key",
    "encode_cursor",
    "encode_key",
    "page",
    "parse_instant",
    "time_range",
]

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=500, description="how many items at most")]
Cursor = Annotated[str | None, Query(max_length=200, description="the 'next' of the previous page")]


Instant = Annotated[
    str | None,
    Query(
        max_length=64,
        description="an ISO-8601 instant with its UTC offset, e.g. 2026-01-01T00:00:00Z",
        examples=["2026-01-01T00:00:00Z"],
    ),
]


def _opaque(value: dict[str, int]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


_LARGEST = 2**63 - 1  # a database BIGINT: beyond it no cursor of ours can point


def _unwrap(cursor: str, key: str) -> int | None:
    """The non-negative int under ``key`` in a cursor, or None when it is not one."""
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        number = value[key]
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        return None
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= _LARGEST:
        return None
    return number


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the page starting at ``offset``.

    Example:
        >>> decode_cursor(encode_cursor(50))
        50
    """
    return _opaque({"o": offset})


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for (0 for no cursor).

    Raises:
        InvalidInput: the cursor was not made by this server.
    """
    if not cursor:
        return 0
    offset = _unwrap(cursor, "o")
    if offset is None:
        raise InvalidInput(f"cursor {cursor!r} is not valid: pass the 'next' of a previous page")
    return offset


def encode_key(ledger_index: int) -> str:
    """An opaque keyset cursor: the page after the item at ``ledger_index``.

    Example:
        >>> decode_key(encode_key(1234))
        1234
        >>> decode_key(None) is None
        True
    """
    return _opaque({"k": ledger_index})


def decode_key(cursor: str | None) -> int | None:
    """The ledger index a keyset cursor stands for (None for no cursor: the first page).

    Raises:
        InvalidInput: the cursor was not made by this server for this list.
    """
    if not cursor:
        return None
    key = _unwrap(cursor, "k")
    if key is None:
        raise InvalidInput(
            f"cursor {cursor!r} is not valid: pass the 'next' of a previous page of this list"
        )
    return key


def parse_instant(value: str | None, name: str) -> float | None:
    """Seconds since the epoch of an ISO-8601 instant with a UTC offset (None: no bound).

    Example:
        >>> parse_instant("2026-01-01T00:00:00Z", "since")
        1767225600.0
        >>> parse_instant("2026-01-01T01:00:00+01:00", "since")
        1767225600.0

    Raises:
        InvalidInput: not an ISO-8601 date-time, or one without its UTC offset.
    """
    if value is None:
        return None
    example = "e.g. 2026-01-01T00:00:00Z"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} {value!r} is not an ISO-8601 date-time: send one like {example[5:]}"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidInput(f"{name} {value!r} has no UTC offset: add one (Z or +HH:MM), {example}")
    return when.timestamp()


def time_range(since: str | None, until: str | None) -> tuple[float | None, float | None]:
    """``(since, until)`` as seconds since the epoch, checked to be in order.

    Raises:
        InvalidInput: either is not an instant, or ``since`` is not before ``until``.
    """
    start, end = parse_instant(since, "since"), parse_instant(until, "until")
    if start is not None and end is not None and start >= end:
        raise InvalidInput(f"since {since!r} must be before until {until!r}")
    return start, end


def page(items: Sequence[Any], limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of ``items`` (already rendered) and the cursor of the next, or None."""
    start = decode_cursor(cursor)
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return {"items": chunk, "next": encode_cursor(start + limit) if more else None}
