"""The public API stays small, sorted and importable."""

from __future__ import annotations

import tether
from tether import errors


def test_all_is_sorted_and_unique() -> None:
    assert list(tether.__all__) == sorted(set(tether.__all__))


def test_every_name_in_all_exists() -> None:
    assert [n for n in tether.__all__ if not hasattr(tether, n)] == []


def test_every_error_is_a_tether_error_and_a_builtin() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, tether.TetherError)
        if cls is not tether.TetherError:
            assert any(
                issubclass(cls, b) for b in (ValueError, LookupError, RuntimeError, PermissionError)
            ), name
