"""Console pages: breakers (being built)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False)
