"""Root pytest configuration: keep doctest collection away from Alembic's env script."""

collect_ignore_glob = ["src/tether/store/migrations/*"]
