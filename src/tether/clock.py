"""Clocks: the system clock, and the protocol tests replace it through.

Example:
    >>> SystemClock().now().tzinfo is not None
    True
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock", "format_timestamp"]


class Clock(Protocol):
    """Anything with ``now()`` returning an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time."""
        ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        """Return the current time."""
        return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with microseconds.

    Example:
        >>> format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
        '2026-01-02T03:04:05.000006Z'
    """
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat is ~10x faster than strftime; every append formats one timestamp.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
