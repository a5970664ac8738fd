"""CLI tests: a package, so that its conftest.py does not clash with tests/conftest.py.

Both would otherwise be imported as the top-level module ``conftest``, which
``--doctest-modules`` (collecting both files) refuses as an import file mismatch.
"""
