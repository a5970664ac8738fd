"""The digest shortcut of the PII scan changes nothing: it only skips walks that find nothing.

A scan first serialises the value and tests each detector's necessary condition on the
bytes; only the detectors that may hit walk the value. These tests compare a scan with
a plain walk by every detector on values built to be awkward: PII next to dates, ids,
digits, separators, quotes, backslashes, newlines and non-ASCII text.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tether.pipeline.guardrails import DETECTORS, Pii, PiiDetector
from tether.pipeline.guardrails._pii import _Walk

DETECTOR_SETS = st.lists(st.sampled_from(sorted(DETECTORS)), min_size=1, unique=True).map(
    lambda names: [DETECTORS[n]() for n in names]
)

PIECES = st.sampled_from(
    [
        "4111 1111 1111 1111", "4111111111111111", "4111-1111-1111-1112", "378282246310005",
        "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "de89 3704 0044 0532 0130 00",
        "123-45-6789", "078 05 1120", "000-12-3456",
        "+44 20 7946 0958", "(415) 555-2671", "020 7946 0958", "1-800-555-0199", "+1",
        "ann@example.com", "@", "x@y", "2026-01-15", "2026-01-15T10:32:07Z", " 10:32",
        "2026-01-15 10:32:07.123456", "12345678", "1 ", "(0)", "+49-30-901820",
        "INV-2026-00042", "192.168.1.10", "7f3c9a2e-4b1d", "12.500.000", "0.123456789",
        " ", "-", ".", "(", ")", "+", "/", "_", ":", ",", '"', "\\", "\n", "\t", "\x01",
        "é", "€", "日本", "a", "Z", "0", "7", "42", "99999999",
    ]
)  # fmt: skip
TEXT = st.lists(PIECES, max_size=6).map("".join)
SCALARS = st.one_of(
    TEXT,
    st.integers(-(10**20), 10**20),
    st.sampled_from([4111111111111111, -4111111111111111, 378282246310005, 10**15]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(TEXT, inner, max_size=4),
    ),
    max_leaves=12,
)


def _walk(value: Any, detectors: list[PiiDetector]) -> tuple[Any, list[Any]]:
    ordered = tuple(sorted(detectors, key=lambda d: d.priority))
    walk = _Walk(ordered)
    return walk.value(value, None), walk.findings


@settings(max_examples=400)
@given(VALUES, DETECTOR_SETS)
@example({"n": 4111111111111111}, [DETECTORS["payment_card"]()])
@example({"t": "x\n4111111111111111"}, [DETECTORS["payment_card"]()])
@example(["\x01+44 20 7946 0958"], [DETECTORS["phone"]()])
@example({"a": '"', "b": "020 7946 0958"}, [DETECTORS["phone"]()])
@example(["ID-2026-01-15 0207 946"], [DETECTORS["phone"]()])
@example(["x 2026-01-15 10:32:07.123456", "1 2026-01-15 10:3"], [DETECTORS["phone"]()])
@example(["INV-2026 020 7946 0958"], [DETECTORS["phone"]()])
@example({"\n123-45-6789": []}, [DETECTORS["phone"]()])  # "n" in the text, a newline in the key
def test_a_scan_finds_what_a_full_walk_finds(value: Any, detectors: list[PiiDetector]) -> None:
    expected_value, expected_findings = _walk(value, detectors)
    redacted, result = Pii(detectors).check(value)
    assert list(result.findings) == expected_findings
    assert redacted == (expected_value if expected_findings else value)
