"""Explanation and fairness tests (a package, so module names may repeat elsewhere)."""
