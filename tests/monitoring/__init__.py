"""Monitoring tests (a package, so module names may repeat elsewhere)."""
