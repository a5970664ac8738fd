"""Canonical JSON per RFC 8785 (JCS), with a fast path proven equal to ``rfc8785``.

The reference implementation (``rfc8785``, pure Python) costs 30-50 µs for a 500-byte
decision record; ``orjson`` with sorted keys costs ~0.5 µs and writes the same bytes
whenever the value holds no float, no integer beyond 2**53 and no character outside the
Basic Multilingual Plane (JCS sorts keys by UTF-16 code units, orjson by code points;
they differ only there). Floats differ only in notation (orjson writes ``100.0`` and
``1e16``, JCS ``100`` and ``10000000000000000``), so when the output holds a float in
one of those notations each float is re-written in JCS notation (ECMAScript
``Number::toString`` over Python's shortest round-trip digits) and spliced in as an
``orjson.Fragment``; ordinary floats such as ``0.05`` or ``1234.5`` are already right.
A round trip catches what orjson maps silently (NaN to null, tuples, UUIDs); astral
keys and anything unusual go to ``rfc8785``. ``tests/ledger/test_canonical.py`` checks
the equality with Hypothesis over the whole JSON data model.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import rfc8785

from tether.errors import InvalidInput

__all__ = ["canonical_json", "jcs_number"]

# A UTF-8 lead byte F0-F4 starts a character outside the Basic Multilingual Plane.
_ASTRAL = re.compile(rb"[\xf0-\xf4]")
# STRICT_INTEGER makes orjson refuse integers beyond 2**53, as JCS does.
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_INF = float("inf")
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
# orjson and JCS write a float alike unless it is integral (orjson ``100.0``, JCS
# ``100``) or orjson uses an exponent (below 1e-5 and from 1e16; JCS only below 1e-6
# and from 1e21). In orjson's compact output a number follows ":", "[" or ","; this
# finds those two forms (and, rarely, a look-alike inside a string: then the slow
# path runs, which is always right). A bare top-level number takes the slow path.
_NOT_JCS = re.compile(rb"[:\[,]-?\d+(?:\.0(?=[,}\]])|(?:\.\d+)?[eE])")


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` to RFC 8785 canonical JSON bytes.

    Example:
        >>> canonical_json({"b": [1, "x"], "a": None, "c": 1.5, "d": 100.0})
        b'{"a":null,"b":[1,"x"],"c":1.5,"d":100}'

    Raises:
        InvalidInput: the value is not JSON (NaN, infinity, an integer beyond 2**53,
            a non-string key, an unsupported type).
    """
    try:
        out = orjson.dumps(value, option=_OPTIONS)
        # A float always prints as a digit followed by ".", "e" or "E"; an integer
        # never does. Mapping digits to "0" lets bytes.__contains__ look at C speed
        # (a regex costs ~4 us, walking the value ~10 us). A hit inside a string only
        # costs the walk.
        shape = out.translate(_DIGITS)
        if (b"0." in shape or b"0e" in shape or b"0E" in shape) and (
            _NOT_JCS.search(out) is not None or out[:1] in b"-0123456789"
        ):
            out = orjson.dumps(_jcs_floats(value), option=_OPTIONS)
    except (TypeError, ValueError, orjson.JSONEncodeError):
        return _reference(value)
    if not out.isascii() and _ASTRAL.search(out) is not None:
        return _reference(value)
    # orjson writes NaN as null and accepts UUIDs, enums and tuples; JCS does not.
    if orjson.loads(out) != value:
        return _reference(value)
    return out


def _jcs_floats(value: Any) -> Any:
    """Copy ``value`` with every float replaced by its JCS text as an orjson Fragment.

    Only exact dicts, lists and floats are walked; a subclass of one of them (or a
    tuple) raises TypeError, which hands the value to the reference implementation.
    Scalars are handled inline: a call per value would double the cost.
    """
    kind = type(value)
    if kind is dict:
        return {k: _jcs_scalar(v) for k, v in value.items()}
    if kind is list:
        return [_jcs_scalar(v) for v in value]
    return _jcs_scalar(value)


def _jcs_scalar(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return orjson.Fragment(jcs_number(value))
    if kind is dict or kind is list:
        return _jcs_floats(value)
    if isinstance(value, dict | list | tuple | float):
        raise TypeError(f"{kind.__name__} goes to the reference implementation")
    return value


def jcs_number(x: float) -> bytes:
    """Format a float as ECMAScript ``Number::toString`` does (RFC 8785 section 3.2.2.3).

    Example:
        >>> [jcs_number(v) for v in (100.0, 1e21, 1.5e-7, 0.000001, -0.0)]
        [b'100', b'1e+21', b'1.5e-7', b'0.000001', b'0']

    Raises:
        ValueError: ``x`` is NaN or infinite (not representable in JSON).
    """
    if x != x or x in (_INF, -_INF):
        raise ValueError(f"{x!r} is not representable in JSON")
    if x == 0:
        return b"0"
    text = repr(x)
    if "e" not in text:
        # repr writes 1e-4 <= |x| < 1e16 in fixed notation with the same shortest
        # digits as ECMAScript, which differs only by dropping an integral ".0".
        return (text[:-2] if text.endswith(".0") else text).encode()
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    stripped = digits.lstrip("0")
    point = len(whole) + (int(exp) if exp else 0) - (len(digits) - len(stripped))
    s = stripped.rstrip("0")  # shortest digits; value = 0.s * 10**point
    k, n = len(s), point
    if k <= n <= 21:
        text = s + "0" * (n - k)
    elif 0 < n <= 21:
        text = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + s
    else:
        e = n - 1
        text = (s if k == 1 else s[0] + "." + s[1:]) + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return (sign + text).encode()


def _reference(value: Any) -> bytes:
    try:
        return bytes(rfc8785.dumps(value))
    except (TypeError, ValueError, rfc8785.CanonicalizationError) as exc:
        raise InvalidInput(f"payload is not canonical JSON: {exc}") from exc
