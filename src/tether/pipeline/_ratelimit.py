"""Token-bucket rate limits, the obligation a rule's ``rate_limit`` adds.

Scope ``process`` (the default): each process enforces the limit on its own calls, so
N processes admit up to N times the rate, at no cost. Scope ``shared``: one bucket in
the database (``store.ratelimit_repo``) for every process, at the price of a write
transaction per decision.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Buckets keyed by rule and subject; thread-safe.

    Example:
        >>> limiter = RateLimiter()
        >>> [limiter.take("k", 2, 60.0, None, now=0.0)[0] for _ in range(3)]
        [True, True, False]
        >>> limiter.take("k", 2, 60.0, None, now=30.0)[0]  # one token back after 30 s
        True
    """

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(
        self, key: str, rate: int, period: float, burst: int | None, now: float
    ) -> tuple[bool, float]:
        """Take one token; return (allowed, seconds until the next token)."""
        capacity = float(burst or rate)
        per_second = rate / period
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(capacity, now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * per_second)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True, 0.0
            return False, (1.0 - bucket.tokens) / per_second
