"""The inventory refuses names that only look valid."""

from __future__ import annotations

import pytest

from tether import InvalidInput
from tether.testing import temporary_tether


@pytest.mark.parametrize(
    "name", ["loan-model\n", "-loan", "lo\u0430n-model", "x" * 201, "a b", "", "loan\x00"]
)
def test_a_system_name_must_be_the_whole_pattern(name: str) -> None:
    """A trailing newline passes ``re.match`` with ``$``: names are matched whole."""
    t = temporary_tether()
    try:
        with pytest.raises(InvalidInput, match="is not a valid name"):
            t.systems.register(name, kind="model", owner="o", risk_tier="high", actor="user:a")
        assert t.systems.list() == []
    finally:
        t.close()
