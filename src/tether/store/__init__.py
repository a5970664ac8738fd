"""The store: SQLAlchemy engine, tables, Alembic migrations and one repository per aggregate.

Dialect-specific code lives here and nowhere else.
"""

from tether.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
