"""Reuse the governed tether of the pipeline tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tests.pipeline.conftest import check_ledger, setup_governance

from tether import Tether


@pytest.fixture
def gov(make_tether: Callable[..., Tether]) -> Iterator[Tether]:
    """A governed tether; after the test its whole ledger must still verify."""
    t = setup_governance(make_tether())
    yield t
    check_ledger(t)
