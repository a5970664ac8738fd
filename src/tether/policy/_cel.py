"""What a CEL condition reads, checked against the declared inputs.

The Rust-backed ``cel`` package compiles and runs expressions but has no type
checker, so this module does the static part itself: it finds every field path an
expression reads (``context.amount``, ``run.actions``), checks each against the
declared schema, and finds comparisons of an enumerated field with a value it can
never hold. The dynamic part (does the rule type-check at all) is done by running
it on sample inputs of the declared types: a rule that fails on every sample can
never match.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tether.policy._model import FieldSpec

__all__ = [
    "ROOTS",
    "FieldPath",
    "builtin_schema",
    "enum_mistakes",
    "flat_roots_kept",
    "flatten",
    "loop_variables",
    "read_paths",
    "resolve",
    "sample_inputs",
    "strip_strings",
    "unknown_variables",
]

ROOTS = ("actor", "system", "action", "context", "run", "signals")

FieldPath = tuple[str, ...]

# String literals of CEL: raw ones (r"...", no escapes) first, then the others.
_STRING = re.compile(
    r"""(?<![A-Za-z0-9_])(?:[rR][bB]?|[bB][rR])(?:'''.*?'''|\"\"\".*?\"\"\"|'[^'\n]*'|"[^"\n]*")"""
    r"""|(?<![A-Za-z0-9_])[bB]?(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\""""
    r"""|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""",
    re.S,
)
_CHAIN = re.compile(r"(?<![\w.])(" + "|".join(ROOTS) + r")((?:\s*\.\s*[A-Za-z_]\w*)*)(\s*[\[(])?")
_LITERAL_CMP = re.compile(
    r"(?P<path>(?:" + "|".join(ROOTS) + r")(?:\.[A-Za-z_]\w*)+)\s*(?P<op>==|!=)\s*"
    r"(?P<lit>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<lit2>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\s*(?P<op2>==|!=)\s*"
    r"(?P<path2>(?:" + "|".join(ROOTS) + r")(?:\.[A-Za-z_]\w*)+)"
    r"|(?P<path3>(?:" + "|".join(ROOTS) + r")(?:\.[A-Za-z_]\w*)+)\s+in\s*\[(?P<items>[^\]]*)\]"
)


def strip_strings(expr: str) -> str:
    """Blank out string literals (keeping offsets) so their text is not read as code."""
    return _STRING.sub(lambda m: '"' + " " * (len(m.group(0)) - 2) + '"', expr)


def read_paths(expr: str) -> set[FieldPath]:
    """Return the field paths ``expr`` reads, each as deep as plain member access goes.

    A method call or index ends a path before it: ``run.actions.exists(a, ...)``
    reads ``run.actions``; ``context["x"]`` reads all of ``context``.

    Example:
        >>> sorted(read_paths("context.amount > 5 && run.actions.exists(a, a.name == 'x.y')"))
        [('context', 'amount'), ('run', 'actions')]
    """
    out: set[FieldPath] = set()
    for m in _CHAIN.finditer(strip_strings(expr)):
        parts = [m.group(1), *(p.strip() for p in m.group(2).split(".")[1:])]
        if m.group(3) and m.group(3).strip() == "(":
            parts = parts[:-1]  # a method call: receiver.method(...)
        if parts:
            out.add(tuple(parts))
    return out


_HAS = re.compile(r"\bhas\s*\(\s*(" + "|".join(ROOTS) + r")\b")


def flatten(expr: str, keep: frozenset[str], names: Mapping[FieldPath, str]) -> str:
    """Rewrite each field path ``expr`` reads into its flat variable in ``names``.

    Converting nested maps into CEL values is most of the cost of a call (~2-3 µs a
    map); flat scalars cost a fraction. Roots in ``keep`` stay nested, and so does
    any root that ``has()`` tests (presence needs a field selection).

    Example:
        >>> names = {("action", "args", "amount"): "t__0", ("run", "actions"): "t__1"}
        >>> flatten("action.args.amount > 5 && run.actions.exists(a, a.name == 'x')",
        ...         frozenset(), names)
        "t__0 > 5 && t__1.exists(a, a.name == 'x')"

    Raises:
        KeyError: a path has no name (the caller then keeps the condition nested).
    """
    code = strip_strings(expr)
    keep = keep | {m.group(1) for m in _HAS.finditer(code)}
    out: list[str] = []
    last = 0
    for m in _CHAIN.finditer(code):
        root = m.group(1)
        if root in keep:
            continue
        chain = m.group(2)
        end = m.end(2)
        parts = [root, *(p.strip() for p in chain.split(".")[1:])]
        if m.group(3) and m.group(3).strip() == "(":
            parts = parts[:-1]
            end = m.start(2) + chain.rfind(".")
        out.append(expr[last : m.start(1)])
        out.append(names[tuple(parts)])
        last = end
    out.append(expr[last:])
    return "".join(out)


def loop_variables(expr: str) -> list[str]:
    """The variables comprehension macros bind (``a`` in ``x.exists(a, ...)``)."""
    return _COMPREHENSION.findall(strip_strings(expr))


def flat_roots_kept(expr: str) -> set[str]:
    """Roots that :func:`flatten` leaves nested because ``has()`` tests them."""
    return {m.group(1) for m in _HAS.finditer(strip_strings(expr))}


_COMPREHENSION = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


def unknown_variables(expr: str, variables: list[str]) -> list[str]:
    """Explain each top-level identifier of ``expr`` that is not one of :data:`ROOTS`.

    ``variables`` is what the compiled program reports; comprehension variables
    (``a`` in ``run.actions.exists(a, ...)``) are bound by the expression itself.
    """
    bound = set(_COMPREHENSION.findall(strip_strings(expr)))
    out = []
    for name in variables:
        if name in ROOTS or name in bound:
            continue
        near = difflib.get_close_matches(name, ROOTS, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"use one of {', '.join(ROOTS)}"
        out.append(f"unknown variable {name!r} ({hint})")
    return out


def builtin_schema() -> dict[str, FieldSpec]:
    """The fields tether itself puts in every request."""
    s = FieldSpec.model_validate
    return {
        "actor": s(
            {
                "type": "map",
                "fields": {
                    "id": "string",
                    "kind": {"type": "string", "enum": ("human", "service", "agent")},
                    "roles": "list",
                },
            }
        ),
        "system": s(
            {
                "type": "map",
                "fields": {
                    "name": "string",
                    "kind": {"type": "string", "enum": ("model", "agent", "workflow", "service")},
                    "risk_tier": {
                        "type": "string",
                        "enum": ("minimal", "limited", "high", "prohibited"),
                    },
                    "owner": "string",
                    "environment": "string",
                },
            }
        ),
        "action": s({"type": "map", "fields": {"name": "string", "args": "map"}}),
        "run": s(
            {
                "type": "map",
                "fields": {
                    "id": "string",
                    "workflow": "string",
                    "actions": "list",
                    "count": "int",
                    "cost": "number",
                },
            }
        ),
    }


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a read path lands in the schema."""

    path: FieldPath  # the prefix of the read path that is passed as input
    spec: FieldSpec | None  # None: below a map/list/any field, unchecked


def resolve(path: FieldPath, schema: Mapping[str, FieldSpec]) -> Resolved | str:
    """Check ``path`` against ``schema``; return where it lands or why it is wrong."""
    spec = schema.get(path[0])
    if spec is None:
        return f"unknown variable {path[0]!r}; use one of {', '.join(ROOTS)}"
    for depth, name in enumerate(path[1:], start=1):
        if spec.type != "map" or spec.fields is None:
            if spec.type in ("map", "any"):
                return Resolved(path[:depth], None)
            dotted = ".".join(path[:depth])
            return f"{dotted} is a {spec.type}; it has no field {name!r}"
        child = spec.fields.get(name)
        if child is None:
            dotted = ".".join(path[:depth])
            known = sorted(spec.fields)
            near = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"declared: {', '.join(known)}"
            return (
                f"{dotted} has no declared field {name!r} ({hint}); declare it in the "
                f"policy's schema or actions"
            )
        spec = child
    return Resolved(path, spec)


def enum_mistakes(expr: str, schema: Mapping[str, FieldSpec]) -> Iterator[str]:
    """Yield comparisons of an enumerated field with a value outside its enum."""
    for m in _LITERAL_CMP.finditer(expr):
        path = m.group("path") or m.group("path2") or m.group("path3")
        if m.group("items") is not None:
            literals = re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", m.group("items"))
            values = [a or b for a, b in literals]
        else:
            raw = m.group("lit") or m.group("lit2")
            values = [raw[1:-1]]
        found = resolve(tuple(path.split(".")), schema)
        if isinstance(found, str) or found.spec is None:
            continue
        if found.spec.type in ("int", "number", "bool"):
            yield (
                f"{path} is declared {found.spec.type}; it never equals the string "
                f"{values[0]!r} (compare it with a {found.spec.type}, or fix the schema)"
            )
            continue
        if found.spec.enum is None:
            continue
        allowed = [v for v in found.spec.enum if isinstance(v, str)]
        for value in values:
            if value not in allowed:
                near = difflib.get_close_matches(value, allowed, n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"it is one of {allowed}"
                yield f"{path} can never be {value!r} ({hint})"


_SAMPLES: dict[str, tuple[Any, ...]] = {
    "string": ("", "x-1", "prod"),
    "int": (0, 1, 250_000),
    "number": (0, 1.5, 25_000),
    "bool": (False, True),
    "list": ((), ("x",)),
    "map": ({},),
    "any": (0, "x", True),
}


def sample_inputs(
    paths: Mapping[FieldPath, FieldSpec | None], limit: int = 24
) -> Iterator[dict[str, Any]]:
    """Yield up to ``limit`` inputs giving each path values of its declared type.

    Enumerated fields cycle through their values; the rest through a few samples of
    their type. Paths that end below a map (``None``) get a few untyped values.
    """
    choices: list[tuple[FieldPath, tuple[Any, ...]]] = []
    for path, spec in sorted(paths.items()):
        if spec is None:
            values: tuple[Any, ...] = _SAMPLES["any"]
        elif spec.enum is not None:
            values = tuple(spec.enum)
        else:
            values = _SAMPLES[spec.type]
        choices.append((path, values))
    # Row i gives path j its value number (i + i // n_j) mod n_j: every value of every
    # field appears, in shifting combinations, without the product's blow-up.
    rows = min(limit, max((len(v) for _, v in choices), default=1) * 4)
    for i in range(rows):
        out: dict[str, Any] = {}
        for path, values in choices:
            value = values[(i + i // len(values)) % len(values)]
            put(out, path, [*value] if isinstance(value, tuple) else value)
        yield out


def put(target: dict[str, Any], path: FieldPath, value: Any) -> None:
    """Set ``target[path[0]][path[1]]... = value``, creating maps on the way."""
    for name in path[:-1]:
        target = target.setdefault(name, {})
    target[path[-1]] = value
