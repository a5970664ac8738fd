"""JSON-path-like locations: ``args.to``, ``items[2].email``, ``headers["X-Key"]``.

A path is a name, then any of ``.name``, ``[index]`` and ``["any key"]`` (a JSON
string); a name is a letter or ``_`` followed by letters, digits, ``_`` and ``-``. The
empty path is the value itself. Formatting is the inverse of parsing, so a finding's
path can be pasted into a field guardrail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from tether.errors import InvalidInput

__all__ = ["MISSING", "Part", "format_path", "join_index", "join_key", "lookup", "parse_path"]

Part = str | int
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PART = re.compile(r'\.([A-Za-z_][A-Za-z0-9_-]*)|\[(?:(0|[1-9][0-9]*)|("(?:[^"\\]|\\.)*"))\]')


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def parse_path(path: str) -> tuple[Part, ...]:
    """Split ``path`` into keys (str) and list indexes (int).

    Example:
        >>> parse_path('items[2].email'), parse_path('h["X Key"]'), parse_path('')
        (('items', 2, 'email'), ('h', 'X Key'), ())

    Raises:
        InvalidInput: the path does not follow the grammar above.
    """
    if not isinstance(path, str):
        raise InvalidInput(f"a path must be a string like 'args.amount', got {type(path).__name__}")
    parts: list[Part] = []
    pos = 0
    if (first := _NAME.match(path)) is not None:
        parts.append(first.group())
        pos = first.end()
    while pos < len(path):
        m = _PART.match(path, pos)
        if m is None or (pos == 0 and path[0] == "."):
            raise InvalidInput(
                f"invalid path {path!r} at character {pos + 1}: expected '.name', '[index]' "
                "or '[\"key\"]' (e.g. 'items[2].email')"
            )
        name, index, quoted = m.groups()
        parts.append(name if name is not None else int(index) if index else json.loads(quoted))
        pos = m.end()
    return tuple(parts)


def join_key(path: str, key: str) -> str:
    """Append a mapping key to a formatted path."""
    if _NAME.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def join_index(path: str, index: int) -> str:
    """Append a list index to a formatted path."""
    return f"{path}[{index}]"


def format_path(parts: tuple[Any, ...] | list[Any]) -> str:
    """Format keys and indexes as a path (keys that are not strings are quoted as text).

    Example:
        >>> format_path(("items", 2, "e-mail", "a b"))
        'items[2].e-mail["a b"]'
    """
    path = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            path = join_index(path, part)
        else:
            path = join_key(path, part if isinstance(part, str) else str(part))
    return path


def lookup(value: Any, parts: tuple[Part, ...]) -> Any:
    """Return the item at ``parts`` inside ``value``, or :data:`MISSING`.

    Example:
        >>> lookup({"args": {"to": ["a", "b"]}}, ("args", "to", 1)), lookup({}, ("x",))
        ('b', MISSING)
    """
    for part in parts:
        if isinstance(part, str):
            if not isinstance(value, Mapping) or part not in value:
                return MISSING
            value = value[part]
        else:
            if not isinstance(value, list | tuple) or part >= len(value):
                return MISSING
            value = value[part]
    return value
