"""Reuse the governed tether of the pipeline tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.pipeline.conftest import setup_governance

from tether import Tether


@pytest.fixture
def gov(make_tether: Callable[..., Tether]) -> Tether:
    return setup_governance(make_tether())
