"""Timestamps are RFC 3339 UTC with microseconds, whatever the input zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from tether.clock import SystemClock, format_timestamp
from tether.testing import FrozenClock


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_format_matches_strftime_in_utc(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    expected = aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert format_timestamp(aware) == expected


def test_clocks() -> None:
    assert SystemClock().now().tzinfo is not None
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    clock.advance(minutes=1)
    assert format_timestamp(clock.now()) == "2026-03-01T00:01:00.000000Z"
