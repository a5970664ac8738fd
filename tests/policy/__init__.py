"""Policy tests (a package, so test module names may repeat elsewhere)."""
