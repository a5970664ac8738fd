"""The decision pipeline: identify, breakers, policy, rate limits, guardrails,
approval, execute, record. Guardrails live in :mod:`tether.pipeline.guardrails`."""

from __future__ import annotations

from tether.pipeline._breakers import Breakers, breaker_keys
from tether.pipeline._pipeline import Decision, Outcome, Pipeline
from tether.pipeline._ratelimit import RateLimiter
from tether.pipeline._run import Run

__all__ = ["Breakers", "Decision", "Outcome", "Pipeline", "RateLimiter", "Run", "breaker_keys"]
