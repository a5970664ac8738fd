"""Public test helpers: a frozen clock and throwaway tethers.

Example:
    >>> clock = FrozenClock()
    >>> before = clock.now()
    >>> clock.advance(seconds=5)
    >>> (clock.now() - before).total_seconds()
    5.0
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tether.core import Tether
from tether.settings import Settings

__all__ = ["FrozenClock", "temporary_tether"]


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """Return the frozen time."""
        return self._now

    def advance(self, **delta: float) -> None:
        """Move the clock forward by ``timedelta(**delta)``."""
        self._now += timedelta(**delta)

    def set(self, moment: datetime) -> None:
        """Set the clock to ``moment``."""
        self._now = moment


class _TemporaryTether(Tether):
    def close(self) -> None:
        super().close()
        shutil.rmtree(self.settings.home, ignore_errors=True)


def temporary_tether(clock: Any = None, **settings: Any) -> Tether:
    """Initialise a tether in a fresh temporary home, removed on ``close()``.

    Example:
        >>> t = temporary_tether(clock=FrozenClock())
        >>> t.ledger.append("decision", "bot", {"x": 1}).timestamp
        '2026-01-01T00:00:00.000000Z'
        >>> t.close()
    """
    home = Path(tempfile.mkdtemp(prefix="tether-"))
    t = Tether.init(Settings(home=home, **settings), clock=clock or FrozenClock())
    return _TemporaryTether(t.settings, t.store, t.ledger, t.clock)
