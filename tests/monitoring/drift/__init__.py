"""Drift statistics tests (a package, so module names never clash)."""
