"""The canonical-JSON fast path writes exactly what the reference rfc8785 writes."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.errors import InvalidInput
from tether.ledger._canonical import canonical_json, jcs_number
from tether.ledger._entry import Entry, encode_entry

SAFE = 2**53 - 1
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(["\U0001f600", "\ue000", "\u2028", "\x7f", "\x00", "é", '"\\'])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(max_size=6) | st.sampled_from(["\U0001f600", "\ue000"]), children, max_size=5
        )
    ),
    max_leaves=25,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return bytes(rfc8785.dumps(value))
    except Exception:
        return InvalidInput


@settings(max_examples=1500, deadline=None)
@given(json_values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    expected = _reference(value)
    if expected is InvalidInput:
        with pytest.raises(InvalidInput):
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


@settings(max_examples=500, deadline=None)
@given(
    st.integers(min_value=0, max_value=SAFE),
    st.text(),
    st.text(min_size=1),
    st.none() | st.text(),
)
def test_entry_encoding_is_canonical(
    index: int, stamp: str, actor: str, subject: str | None
) -> None:
    raw = encode_entry(index, stamp, "decision", actor, subject, "sha256:" + "ab" * 32)
    assert raw == rfc8785.dumps(
        {
            "actor": actor,
            "index": index,
            "kind": "decision",
            "payload_digest": "sha256:" + "ab" * 32,
            "subject": subject,
            "timestamp": stamp,
            "v": 1,
        }
    )
    assert Entry.parse(raw).index == index


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, 2**53, {1: "non-string key"}, uuid.UUID(int=1), object()],
)
def test_non_json_values_are_refused(value: Any) -> None:
    with pytest.raises(InvalidInput, match="not canonical JSON"):
        canonical_json(value)


def test_known_vectors() -> None:
    # RFC 8785 section 3.2.2 / 3.2.3 style cases: key order by UTF-16, number forms.
    assert canonical_json({"\u20ac": 1, "\r": 2, "\U0001f600": 3, "\ufb33": 4}) == (
        '{"\\r":2,"€":1,"\U0001f600":3,"\ufb33":4}'.encode()
    )
    assert canonical_json([1e21, 1e-7, 100.0, -0.0, 0.1]) == b"[1e+21,1e-7,100,0,0.1]"


@settings(max_examples=5000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_notation_equals_rfc8785(x: float) -> None:
    assert jcs_number(x) == rfc8785.dumps(x)


@pytest.mark.parametrize(
    "x", [5e-324, 1.7976931348623157e308, 1e21, 1e-6, 1e-7, 123456789012345680000.0, 0.1 + 0.2]
)
def test_float_notation_edges(x: float) -> None:
    assert jcs_number(x) == rfc8785.dumps(x)
    assert jcs_number(-x) == rfc8785.dumps(-x)


@pytest.mark.parametrize("value", [(1.5, 2), {"a": (0.5,)}, [True, 1.0, False]])
def test_tuples_and_bools_match_the_reference(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "x",
    [1e-5, 9.99e-6, 1.5e-6, 1e-6, 1e-7, 0.1, 1.5, 100.0, -0.0, 123456789.125, 1e15, 1e15 + 0.5,
     1e16, 2.0**53, 1e20, 1e21, 1.7976931348623157e308, 5e-324, -2.5e-7],
)  # fmt: skip
def test_floats_at_the_notation_boundaries_match_the_reference(x: float) -> None:
    for value in (x, [x], {"a": x}, {"k": [1, {"z": x, "s": "12:3e5"}], "t": "0e"}):
        assert canonical_json(value) == rfc8785.dumps(value)
