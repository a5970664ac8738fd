"""Profiles of Dask DataFrames, built partition by partition and merged.

:func:`profile` returns the profile :meth:`Profile.build <tether.monitoring.Profile.build>`
would build from the whole frame in one process (``Profile.build(ddf.compute())``),
without ever bringing the data to one place:

- **with** ``reference=``: every partition is profiled against the reference and the
  partition profiles are merged in a tree (one pass over the data);
- **without**: the frame becomes a reference in two phases. Phase 1 finds each column's
  kind (summing per-partition dtype kinds, missing values and parse failures), its top
  categories (merging exact per-partition value counts) and its bin edges, which are the
  *exact* ``np.quantile`` values, found by distributed radix selection
  (:mod:`tether.adapters._select`; two or three passes, at most six). Phase 2 profiles
  every partition on those edges and categories and merges (one more pass).

What comes out equal to the one-process profile:

- exactly: rows, column kinds, edges, categories, bin and category counts, ``count``,
  ``missing``, ``type_errors``, ``min``, ``max``, the reference range and ``below`` /
  ``above`` (an edge that is zero may be ``+0.0`` where numpy gave ``-0.0``; they compare
  equal and bin alike);
- to float rounding: ``sum`` and ``sum_sq`` are float64 sums added in another order, so
  they (and ``mean``, ``std``) agree to ~1e-12 relative (a sum that cancels to nearly
  zero agrees to ~1e-13 of ``count * max |value|`` instead);
- within the sketches' error bounds: the KLL quantile sketch and the HLL distinct-count
  sketch are merged as ``datasketches`` defines, so their answers are not the bytes of
  a one-pass sketch but stay within its bounds (KLL k=200: ~1.3 % normalized rank error
  at 99 % confidence; HLL lg_k=12: ~1.6 % relative standard error).

Phase 1 reads the data two or three times (six at most) and phase 2 once more, so
persist an expensive frame first (``ddf = ddf.persist()``) if it fits in the cluster's
memory. Like :meth:`Profile.build`, exact top-K categories need one count per distinct
value, so a text column with millions of distinct values costs memory to match.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tether.adapters._select import Answer, QuantileSearch, Request, answer, float_keys, merge
from tether.errors import InvalidInput
from tether.monitoring._profile import (
    CategoricalColumn,
    NumericColumn,
    Profile,
    _split_numeric,
    _strings,
    columns_of,
)

try:
    import dask.dataframe as dd
    from dask.base import compute as _dask_compute
    from dask.delayed import delayed as _dask_delayed
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("tether.adapters.dask needs Dask: pip install 'tether[dask]'") from exc

__all__ = ["profile"]

# dask's own functions are not annotated; these names give them a type.
_delayed: Callable[..., Any] = _dask_delayed
_compute: Callable[..., tuple[Any, ...]] = _dask_compute

Column = NumericColumn | CategoricalColumn
Kind = Literal["numeric", "categorical"]


def profile(
    ddf: Any,
    *,
    reference: Profile | None = None,
    bins: int = 10,
    top_k: int = 20,
    categorical: Iterable[str] = (),
    client: Any = None,
    split_every: int = 8,
) -> Profile:
    """Profile a Dask DataFrame as :meth:`Profile.build` profiles one batch.

    Without ``reference`` the frame becomes a reference (bin edges from its exact
    quantiles, categories from its top ``top_k`` values); with ``reference`` it is a
    window binned on the reference's edges and categories. ``bins``, ``top_k`` and
    ``categorical`` mean what they mean for :meth:`Profile.build`. The work runs on
    ``client`` (a ``distributed.Client``) when given, otherwise on Dask's current
    scheduler (the active client, if there is one). Partial results are merged in a tree
    of ``split_every`` at a time. See the module docstring for what is exact.

    Example:
        >>> import pandas as pd
        >>> import dask.dataframe as dd
        >>> frame = pd.DataFrame({"amount": [float(i % 97) for i in range(1000)],
        ...                       "channel": ["web", "app", "web", "branch"] * 250})
        >>> ref = profile(dd.from_pandas(frame, npartitions=4))
        >>> one = Profile.build(frame)
        >>> ref.rows, bool(np.array_equal(ref["amount"].edges, one["amount"].edges))
        (1000, True)
        >>> ref["channel"].categories
        ('web', 'app', 'branch')

    Raises:
        InvalidInput: ``ddf`` is not a Dask DataFrame, ``reference`` is not a profile,
            ``bins`` < 2 or ``top_k`` < 0, or the frame is empty and no reference is
            given.
    """
    _check(ddf, reference, bins, top_k, split_every)
    parts = list(ddf.to_delayed())

    def run(task: Callable[[Any, Any], Any], combine: Callable[[Any, Any], Any], arg: Any) -> Any:
        arg_node = _delayed(arg, traverse=False)
        nodes = [_delayed(task)(part, arg_node) for part in parts]
        while len(nodes) > 1:
            nodes = [
                _delayed(_fold)(combine, nodes[i : i + split_every])
                for i in range(0, len(nodes), split_every)
            ]
        (out,) = _compute(nodes[0], scheduler=client)
        return out

    if reference is None:
        names = [str(name) for name in ddf.columns]
        if not names:
            raise InvalidInput(
                "a reference needs at least one row, and this Dask DataFrame has no columns"
            )
        reference = _reference(run, names, bins, top_k, set(categorical))
    return Profile.from_dict(run(_build, _merge_profiles, reference.to_dict()))


def _check(ddf: Any, reference: Any, bins: Any, top_k: Any, split_every: Any) -> None:
    if not isinstance(ddf, dd.DataFrame):
        hint = (
            "convert a Dask Series with .to_frame()"
            if isinstance(ddf, dd.Series)
            else "use tether.monitoring.Profile.build for data in memory, or wrap it with "
            "dask.dataframe.from_pandas(...)"
        )
        raise InvalidInput(f"profile() takes a Dask DataFrame, not a {type(ddf).__name__}: {hint}")
    if reference is not None and not isinstance(reference, Profile):
        raise InvalidInput(
            f"reference must be a tether Profile, not a {type(reference).__name__}: build one "
            "with profile(ddf) or Profile.build(data), or read one with Profile.from_json"
        )
    if not isinstance(bins, int) or bins < 2:
        raise InvalidInput(f"bins must be an integer of at least 2, not {bins!r}")
    if not isinstance(top_k, int) or top_k < 0:
        raise InvalidInput(f"top_k must be a non-negative integer, not {top_k!r}")
    if not isinstance(split_every, int) or split_every < 2:
        raise InvalidInput(f"split_every must be an integer of at least 2, not {split_every!r}")


def _fold(combine: Callable[[Any, Any], Any], items: list[Any]) -> Any:
    return functools.reduce(combine, items)


# --- phase 2 (and the whole job when a reference is given) -----------------------------
# Profiles travel as to_dict() dicts: the datasketches objects inside do not pickle.


def _build(part: Any, reference: dict[str, Any]) -> dict[str, Any]:
    return Profile.build(part, reference=Profile.from_dict(reference)).to_dict()


def _merge_profiles(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return Profile.from_dict(a).merge(Profile.from_dict(b)).to_dict()


# --- phase 1: kinds, categories and exact edges -----------------------------------------


@dataclass(frozen=True)
class _Task:
    """What one partition computes for one column in one pass."""

    detect: bool = False  # dtype class and the numeric split's counts
    values: bool = False  # exact value counts of the categorical strings
    requests: tuple[Request, ...] = ()  # exact-quantile questions


@dataclass
class _ColumnScan:
    """One column's answers, for one partition or merged over several."""

    classes: frozenset[str] = frozenset()  # "number", "object", "other": dtype kinds seen
    size: int = 0
    missing: int = 0
    errors: int = 0
    values: dict[str, int] = field(default_factory=dict)
    answers: dict[Request, Answer] = field(default_factory=dict)


@dataclass
class _Scan:
    rows: int
    columns: dict[str, _ColumnScan]


def _dtype_class(values: np.ndarray) -> str:
    kind = values.dtype.kind
    return "number" if kind in "iuf" else "object" if kind == "O" else "other"


def _scan(part: Any, tasks: Mapping[str, _Task]) -> _Scan:
    labels = {str(label): label for label in part.columns}
    cols = columns_of(part[[labels[name] for name in tasks]])  # only the columns asked about
    out: dict[str, _ColumnScan] = {}
    for name, task in tasks.items():
        values = cols[name]
        scan = _ColumnScan(classes=frozenset({_dtype_class(values)}))
        if task.detect or task.requests:
            good, missing, errors = _split_numeric(values)
            scan.size, scan.missing, scan.errors = int(values.size), missing, errors
            keys = float_keys(good)
            scan.answers = {r: answer(keys, r) for r in task.requests}
        if task.values:
            strings, _ = _strings(values)
            uniq, freq = np.unique(strings, return_counts=True)
            scan.values = dict(zip(uniq.tolist(), freq.tolist(), strict=True))
        out[name] = scan
    return _Scan(len(part), out)


def _merge_scans(a: _Scan, b: _Scan) -> _Scan:
    columns = {}
    for name, x in a.columns.items():
        y = b.columns[name]
        values = dict(x.values)
        for v, n in y.values.items():
            values[v] = values.get(v, 0) + n
        columns[name] = _ColumnScan(
            x.classes | y.classes, x.size + y.size, x.missing + y.missing, x.errors + y.errors,
            values, {r: merge(x.answers[r], y.answers[r]) for r in x.answers},
        )  # fmt: skip
    return _Scan(a.rows + b.rows, columns)


@dataclass
class _Plan:
    """The driver's state for one column of a reference being built."""

    name: str
    search: QuantileSearch
    top_k: int
    kind: Kind | None = None  # None until the first pass has seen the data
    categories: tuple[str, ...] | None = None

    def task(self) -> _Task | None:
        if self.kind is None:
            return _Task(detect=True, requests=tuple(sorted(self.search.requests())))
        if self.kind == "categorical":
            return None if self.categories is not None else _Task(values=True)
        return None if self.search.done else _Task(requests=tuple(sorted(self.search.requests())))

    def feed(self, scan: _ColumnScan) -> None:
        if self.kind is None:
            self.kind = _kind(scan)
            if self.kind == "categorical":
                return
        if self.kind == "categorical":
            self.categories = _top(scan.values, self.top_k)
        else:
            self.search.feed(scan.answers)

    def column(self) -> Column:
        """The empty column ``_new_column`` would have made from the whole data."""
        if self.kind == "numeric":
            edges = np.unique(self.search.result()).astype(np.float64)
            return NumericColumn(self.name, edges, np.zeros(edges.size + 1, dtype=np.int64))
        cats = self.categories or ()
        return CategoricalColumn(self.name, cats, np.zeros(len(cats) + 1, dtype=np.int64))


def _kind(scan: _ColumnScan) -> Kind:
    """The kind ``_new_column`` would pick for the concatenated partitions: a numeric
    dtype is numeric; an object column (or partitions whose dtypes differ, which concatenate
    to object) is numeric when at most 5 % of its present values fail to parse."""
    if scan.classes == {"number"}:
        return "numeric"
    if scan.classes == {"other"}:
        return "categorical"
    present = scan.size - scan.missing
    return "numeric" if present and scan.errors <= 0.05 * present else "categorical"


def _top(counts: Mapping[str, int], top_k: int) -> tuple[str, ...]:
    """The top ``top_k`` values by count, ties in string order, as ``_new_column`` ranks."""
    if not counts:
        return ()
    uniq = np.asarray(sorted(counts), dtype=str)
    freq = np.asarray([counts[u] for u in uniq.tolist()], dtype=np.int64)
    order = np.lexsort((uniq, -freq))[:top_k]
    return tuple(uniq[order].tolist())


Runner = Callable[[Callable[[Any, Any], Any], Callable[[Any, Any], Any], Any], Any]


def _reference(run: Runner, names: list[str], bins: int, top_k: int, forced: set[str]) -> Profile:
    """Phase 1: an empty profile with the edges and categories of the whole frame."""
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    plans = {
        n: _Plan(n, QuantileSearch(qs), top_k, "categorical" if n in forced else None)
        for n in names
    }
    first = True
    while tasks := {n: t for n, p in plans.items() if (t := p.task()) is not None}:
        scan: _Scan = run(_scan, _merge_scans, tasks)
        if first and scan.rows == 0:
            raise InvalidInput(
                "a reference needs at least one row, and this Dask DataFrame has none: "
                "profile a non-empty frame, or pass reference= to profile it as a window"
            )
        first = False
        for name, col in scan.columns.items():
            plans[name].feed(col)
    return Profile({n: p.column() for n, p in plans.items()})
