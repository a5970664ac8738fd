"""Load the W1 scenario module from examples/w1 (it is shared with the benchmarks)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_PATH = Path(__file__).resolve().parents[2] / "examples" / "w1" / "w1.py"


def load() -> ModuleType:
    if "w1_example" in sys.modules:
        return sys.modules["w1_example"]
    spec = importlib.util.spec_from_file_location("w1_example", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["w1_example"] = module
    spec.loader.exec_module(module)
    return module
