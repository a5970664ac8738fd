"""YAML with positions: every value and every key knows its ``file:line:column``.

PyYAML's composer gives marked nodes; we build plain Python values from them and
keep a table from each value's path (a tuple of keys and indices) to where it was
written, so a schema error on ``rules[3].efect`` can point at line 14, column 5.
Duplicate keys, which PyYAML silently lets the last one win, are an error here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["Located", "Mark", "Path", "load_located"]

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Mark:
    """A position in a source file (line and column count from 1)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(slots=True)
class Located:
    """A parsed document with the position of every value and key."""

    value: Any
    file: str
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def mark(self, path: Path, *, key: bool = False) -> Mark:
        """Return the position of ``path`` (its key with ``key=True``), or of its
        nearest written ancestor when the path does not exist (a missing field)."""
        table = self.keys if key else self.values
        probe = path
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Mark(self.file, 1, 1))


class YamlProblem(ValueError):
    """A YAML syntax error or a duplicate key, with its position."""

    def __init__(self, mark: Mark, message: str) -> None:
        self.mark = mark
        super().__init__(f"{mark}: {message}")


def load_located(text: str, file: str) -> Located:
    """Parse one YAML document, keeping positions.

    Example:
        >>> doc = load_located("a:\\n  - x: 1\\n", "p.yaml")
        >>> doc.value, str(doc.mark(("a", 0, "x"))), str(doc.mark(("a", 0, "x"), key=True))
        ({'a': [{'x': 1}]}, 'p.yaml:2:8', 'p.yaml:2:5')

    Raises:
        YamlProblem: the text is not valid YAML, holds several documents, or repeats
            a key in one mapping.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _mark(file, mark) if mark is not None else Mark(file, 1, 1)
        raise YamlProblem(where, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(Mark(file, 1, 1), f"not valid YAML: {exc}") from None
    doc = Located(None, file)
    if node is None:
        return doc
    if _expanded_size(node, {}) > MAX_VALUES:
        raise YamlProblem(
            Mark(file, 1, 1),
            f"the document expands to more than {MAX_VALUES:,} values (nested aliases?); "
            "write it out or split it",
        )
    loader = yaml.SafeLoader("")
    try:
        doc.value = _build(node, (), doc, loader, {})
    finally:
        loader.dispose()
    return doc


MAX_VALUES = 200_000


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` becomes once every alias is expanded (memoised)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.MappingNode):
        total += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(item, sizes) for item in node.value)
    sizes[id(node)] = total
    return total


def _mark(file: str, mark: Any) -> Mark:
    return Mark(file, mark.line + 1, mark.column + 1)


def _build(
    node: yaml.Node, path: Path, doc: Located, loader: yaml.SafeLoader, built: dict[int, Any]
) -> Any:
    # An alias is the same node object: build it once (nested aliases would otherwise
    # expand exponentially, a "billion laughs" document).
    if id(node) in built:
        return built[id(node)]
    doc.values[path] = _mark(doc.file, node.start_mark)
    value = _build_node(node, path, doc, loader, built)
    built[id(node)] = value
    return value


def _build_node(
    node: yaml.Node, path: Path, doc: Located, loader: yaml.SafeLoader, built: dict[int, Any]
) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, (*path, "\0key"), doc, loader, built)
            doc.values.pop((*path, "\0key"), None)
            if not isinstance(key, str):
                raise YamlProblem(
                    _mark(doc.file, key_node.start_mark),
                    f"mapping keys must be strings, not {type(key).__name__} {key!r}",
                )
            if key in out:
                raise YamlProblem(
                    _mark(doc.file, key_node.start_mark),
                    f"duplicate key {key!r} (the first one is at line "
                    f"{doc.keys[(*path, key)].line}); keep one",
                )
            doc.keys[(*path, key)] = _mark(doc.file, key_node.start_mark)
            out[key] = _build(value_node, (*path, key), doc, loader, built)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, loader, built) for i, item in enumerate(node.value)]
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise YamlProblem(_mark(doc.file, node.start_mark), str(exc.problem)) from None
