"""Rows as plain dicts."""

from __future__ import annotations

from typing import Any

__all__ = ["row_dict"]


def row_dict(row: Any) -> dict[str, Any]:
    """A result row as a dict with plain ``str`` keys (SQLAlchemy's column keys are
    ``quoted_name`` objects, which JSON encoders such as orjson refuse)."""
    return {str(k): v for k, v in row._mapping.items()}
