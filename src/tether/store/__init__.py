"""The store: SQLAlchemy engine, tables, Alembic migrations and one repository per aggregate.

Dialect-specific code lives here and nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._lazy import lazy_exports

if TYPE_CHECKING:
    from tether.store.engine import Store, open_store

__getattr__, __dir__ = lazy_exports(
    __name__, {"Store": "tether.store.engine", "open_store": "tether.store.engine"}, globals()
)

__all__ = ["Store", "open_store"]
