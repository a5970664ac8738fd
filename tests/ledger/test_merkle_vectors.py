"""The transparency-dev/merkle test vectors (RFC 6962 / RFC 9162) against tether's Merkle code.

The vectors live beside the project in ``../shared/testvectors/merkle/`` (or wherever
``TETHER_MERKLE_VECTORS`` points); the tests skip when they are not there.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tether.errors import ProofError
from tether.ledger._merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


def _vectors_dir() -> Path:
    override = os.environ.get("TETHER_MERKLE_VECTORS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared" / "testvectors" / "merkle"


VECTORS = _vectors_dir()
pytestmark = pytest.mark.skipif(
    not (VECTORS / "reference-tree.json").is_file(),
    reason=f"Merkle test vectors not found in {VECTORS} (set TETHER_MERKLE_VECTORS)",
)


def _files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).glob("**/*.json")) if (VECTORS / kind).is_dir() else []


def _id(path: Path) -> str:
    return path.relative_to(VECTORS).as_posix()


def _b64(value: str | None) -> bytes:
    return b"" if value is None else base64.b64decode(value, validate=True)


def _proof(value: list[str] | None) -> list[bytes]:
    return [] if value is None else [_b64(item) for item in value]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _reference() -> tuple[list[bytes], list[bytes]]:
    ref = _load(VECTORS / "reference-tree.json")
    leaves = [leaf_hash(bytes.fromhex(x)) for x in ref["leaf_inputs_hex"]]
    roots = [bytes.fromhex(x) for x in ref["root_hashes_hex_by_size"]]
    return leaves, roots


INCLUSION = _files("inclusion")
CONSISTENCY = _files("consistency")


def test_vector_folders_are_not_empty() -> None:
    assert INCLUSION, f"no inclusion vectors in {VECTORS / 'inclusion'}"
    assert CONSISTENCY, f"no consistency vectors in {VECTORS / 'consistency'}"
    assert any(_load(p)["wantErr"] is False for p in INCLUSION)
    assert any(_load(p)["wantErr"] is False for p in CONSISTENCY)


@pytest.mark.parametrize("path", INCLUSION, ids=[_id(p) for p in INCLUSION])
def test_inclusion_vector(path: Path) -> None:
    case = _load(path)
    args = (
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        _proof(case["proof"]),
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=[_id(p) for p in CONSISTENCY])
def test_consistency_vector(path: Path) -> None:
    case = _load(path)
    args = (
        case["size1"],
        case["size2"],
        _proof(case["proof"]),
        _b64(case["root1"]),
        _b64(case["root2"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_reference_tree_roots() -> None:
    leaves, roots = _reference()
    assert len(roots) == len(leaves) + 1 == 9
    assert roots[0] == EMPTY_ROOT
    frontier = CompactRange()
    assert frontier.root() == roots[0]
    for size in range(1, len(leaves) + 1):
        frontier.append(leaves[size - 1])
        assert root_from_leaf_hashes(leaves[:size]) == roots[size], size
        assert frontier.root() == roots[size], size


def _reference_cases(paths: list[Path], size: str, root: str) -> list[Path]:
    """The happy-path vectors whose tree is a prefix of the reference tree."""
    if not (VECTORS / "reference-tree.json").is_file():
        return []
    _, roots = _reference()
    cases = [(p, _load(p)) for p in paths]
    return [
        p
        for p, case in cases
        if not case["wantErr"] and case[size] < len(roots) and _b64(case[root]) == roots[case[size]]
    ]


INCLUSION_REF = _reference_cases(INCLUSION, "treeSize", "root")
CONSISTENCY_REF = _reference_cases(CONSISTENCY, "size2", "root2")


def test_reference_vectors_found() -> None:
    assert len(INCLUSION_REF) >= 4
    assert len(CONSISTENCY_REF) >= 4


@pytest.mark.parametrize("path", INCLUSION_REF, ids=[_id(p) for p in INCLUSION_REF])
def test_reference_inclusion_proof_matches_vector(path: Path) -> None:
    leaves, _ = _reference()
    case = _load(path)
    index, size = case["leafIdx"], case["treeSize"]
    assert _b64(case["leafHash"]) == leaves[index]
    assert inclusion_proof(index, leaves[:size]) == _proof(case["proof"])


@pytest.mark.parametrize("path", CONSISTENCY_REF, ids=[_id(p) for p in CONSISTENCY_REF])
def test_reference_consistency_proof_matches_vector(path: Path) -> None:
    leaves, roots = _reference()
    case = _load(path)
    size1, size2 = case["size1"], case["size2"]
    assert _b64(case["root1"]) == roots[size1]
    assert consistency_proof(size1, leaves[:size2]) == _proof(case["proof"])
