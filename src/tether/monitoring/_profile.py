"""Profiles: one pass over a batch builds a typed, mergeable summary per column.

Numeric columns keep counts over bins whose edges come from the *reference's*
quantiles (so every later window is binned on the same edges and counts add up
exactly), a KLL quantile sketch, min, max and the sums for mean and standard
deviation. Categorical columns keep exact counts for the reference's top K values
and an ``__other__`` bucket, plus an HLL sketch of the distinct values. Every column
counts missing values and type errors (a string in a numeric column).

Merging is associative: counts, bins, min/max, missing and type errors merge exactly;
the sketches merge as their library defines; the moment sums are float64 sums, so a
mean or standard deviation agrees with a one-pass profile to ~1e-15 relative.
"""

from __future__ import annotations

import base64
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import orjson
from datasketches import hll_sketch, hll_union, kll_doubles_sketch

from tether.errors import InvalidInput

__all__ = ["OTHER", "CategoricalColumn", "NumericColumn", "Profile", "columns_of"]

OTHER = "__other__"
FORMAT = 1
_HLL_LG_K = 12
Kind = Literal["numeric", "categorical"]
T = TypeVar("T")


def columns_of(data: Any) -> dict[str, np.ndarray]:
    """Turn a batch into named 1-D arrays: a mapping of columns, a pandas DataFrame,
    a pyarrow Table or a numpy structured array.

    Raises:
        InvalidInput: the batch is none of those, or its columns differ in length.
    """
    if hasattr(data, "to_pydict") and hasattr(data, "column_names"):  # pyarrow.Table
        data = {name: _arrow_values(data.column(name)) for name in data.column_names}
    elif (
        hasattr(data, "columns") and hasattr(data, "__getitem__") and not isinstance(data, Mapping)
    ):  # pandas: text columns are factorised, a column per thread for a big frame
        frame, names = data, list(data.columns)
        values = _each(lambda n: _pandas_values(frame[n]), names, len(frame))
        data = {str(n): v for n, v in zip(names, values, strict=True)}
    elif isinstance(data, np.ndarray) and data.dtype.names:
        data = {name: data[name] for name in data.dtype.names}
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"cannot profile a {type(data).__name__}: pass a mapping of columns, a pandas "
            "DataFrame, a pyarrow Table or a numpy structured array"
        )
    out = {str(k): np.asarray(v) if not isinstance(v, np.ndarray) else v for k, v in data.items()}
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise InvalidInput(f"columns have different lengths: {sorted(lengths)}")
    return out


def _arrow_values(column: Any) -> np.ndarray:
    """A pyarrow column as numpy; a text column is dictionary-encoded first (one Python
    string per distinct value, as for pandas text columns below)."""
    import pyarrow as pa

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        encoded = column.combine_chunks().dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return _from_codes(codes, encoded.dictionary.to_pylist())
    return np.asarray(column.to_numpy(zero_copy_only=False))


class Coded(np.ndarray):
    """An object array of strings that remembers the codes it was built from, so
    counting its values is a ``bincount``. A view or copy of it (a slice, a selection)
    forgets them and is counted like any other array."""

    codes: np.ndarray | None = None  # per row: an index into ``uniques``, -1 for missing
    uniques: list[str] | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self.codes = self.uniques = None


def _from_codes(codes: np.ndarray, uniques: list[Any]) -> np.ndarray:
    """An object array of ``uniques[code]`` per row (code -1: None)."""
    table = np.empty(len(uniques) + 1, dtype=object)
    table[:-1] = uniques
    table[-1] = None
    small = np.asarray(codes, dtype=np.int32 if len(uniques) < 2**31 - 1 else np.int64)
    out: Coded = table[small].view(Coded)
    out.codes, out.uniques = small, list(uniques)
    return out


def coded(values: np.ndarray) -> tuple[np.ndarray, list[str]] | None:
    """(codes, distinct strings) of a text column built from codes, else None."""
    if isinstance(values, Coded) and values.codes is not None and values.uniques is not None:
        return values.codes, values.uniques
    return None


def _pandas_values(series: Any) -> np.ndarray:
    """A pandas column as numpy; a missing value of a nullable dtype (``pd.NA``, as in
    the ``string``, ``Int64`` and ``boolean`` dtypes) becomes None, not a value.

    A text column (``string`` dtype, Arrow-backed or not) is factorised: the array
    holds references to one Python string per distinct value instead of a new string
    per row, which is several times faster and smaller for categorical data."""
    if type(series.dtype).__name__ == "StringDtype":
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]

        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        return _from_codes(codes, [str(u) for u in uniques])
    values = series.to_numpy()
    if values.dtype == object and series.hasnans:
        values = series.to_numpy(dtype=object, na_value=None)
    return np.asarray(values)


def _split_numeric(values: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Return (finite float values, missing count, type-error count)."""
    if values.dtype.kind in "iuf":
        floats = values.astype(np.float64, copy=False)
        finite = np.isfinite(floats)
        bad = int(values.size - np.count_nonzero(finite))
        return (floats[finite] if bad else floats), bad, 0  # no copy when all are finite
    if values.dtype.kind == "b":
        return values.astype(np.float64), 0, 0
    missing = errors = 0
    good: list[float] = []
    for v in values.tolist():
        f = _number(v)
        if f is None:
            missing += 1
        elif f is _ERROR:
            errors += 1
        else:
            good.append(f)  # type: ignore[arg-type]
    return np.asarray(good, dtype=np.float64), missing, errors


_ERROR = object()


def is_missing(v: Any) -> bool:
    """A missing raw value: None or a float NaN."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def _number(v: Any) -> float | object | None:
    """One raw value as a finite float, None when missing, ``_ERROR`` when not a number."""
    if is_missing(v):
        return None
    if isinstance(v, bool | int | float) and math.isfinite(float(v)):
        return float(v)
    if isinstance(v, str) and v.strip() == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _ERROR
    return f if math.isfinite(f) else None


def _bins(edges: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Each value's bin: ``np.searchsorted(edges, good, side="left")``, computed as the
    number of edges below each value (one vectorised comparison per edge, several
    times faster for the few edges a profile has)."""
    if edges.size > 254:
        return np.searchsorted(edges, good, side="left")
    out = np.zeros(good.size, dtype=np.uint8)
    for edge in edges.tolist():
        np.add(out, good > edge, out=out, casting="unsafe")
    return out


def _raw_counts(values: np.ndarray) -> Counter[Any] | None:
    """Counts of each distinct raw value (None when a value is unhashable)."""
    known = coded(values)
    if known is not None:
        codes, uniques = known
        freq = np.bincount(codes + 1, minlength=len(uniques) + 1).tolist()
        out: Counter[Any] = Counter({u: n for u, n in zip(uniques, freq[1:], strict=True) if n})
        if freq[0]:
            out[None] = freq[0]
        return out
    try:
        return Counter(values.tolist())
    except TypeError:
        return None


def _category_counts(
    values: np.ndarray, raw: Counter[Any] | None = None
) -> tuple[dict[str, int], int]:
    """Counts per category string and the missing count: exactly what ``_strings``
    followed by ``np.unique`` gives, counted in C over the distinct values instead."""
    if values.dtype.kind == "S":
        values = values.astype(str)
    if raw is None:
        raw = _raw_counts(values)
    if raw is not None:
        counts: dict[str, int] = {}
        missing = 0
        for value, n in raw.items():
            if is_missing(value):
                missing += n
            elif type(value) is str:
                counts[value] = n
            else:
                break  # mixed types: equal keys like 1 and 1.0 name different strings
        else:
            if values.dtype.kind == "U":
                missing += counts.pop("", 0)  # "" is missing in a text array
            return counts, missing
    strings, missing = _strings(values)
    uniq, freq = np.unique(strings, return_counts=True)
    return dict(zip(uniq.tolist(), freq.tolist(), strict=True)), missing


def _mostly_numeric(values: np.ndarray, raw: Counter[Any] | None) -> bool:
    """``_split_numeric``'s verdict on an object column (values present, at most 5 %
    of them not numbers), judged once per distinct value."""
    if raw is None:
        _, missing, errors = _split_numeric(values)
    else:
        missing = errors = 0
        for value, n in raw.items():
            f = _number(value)
            if f is None:
                missing += n
            elif f is _ERROR:
                errors += n
    present = values.size - missing
    return bool(present) and errors <= 0.05 * present


def _strings(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Categorical values as strings, and the missing count."""
    if values.dtype.kind in "US":
        s = values.astype(str)
        empty = s == ""
        return s[~empty], int(empty.sum())
    items = values.tolist()
    present = [v for v in items if not is_missing(v)]
    return np.asarray([str(v) for v in present], dtype=str), len(items) - len(present)


@dataclass
class NumericColumn:
    """A numeric column's summary."""

    name: str
    edges: np.ndarray  # inner bin edges (ascending); bins: (-inf, e0], (e0, e1], ..., (ek, inf)
    counts: np.ndarray  # int64, len(edges) + 1
    count: int = 0
    missing: int = 0
    type_errors: int = 0
    min: float = math.inf
    max: float = -math.inf
    sum: float = 0.0
    sum_sq: float = 0.0
    kll: Any = field(default=None, repr=False)
    kind: Kind = "numeric"
    range_lo: float = -math.inf  # the reference's range, for a window built against it
    range_hi: float = math.inf
    below: int = 0  # values below range_lo
    above: int = 0  # values above range_hi

    @property
    def mean(self) -> float:
        """Mean of the valid values (NaN when there are none)."""
        return self.sum / self.count if self.count else math.nan

    @property
    def std(self) -> float:
        """Population standard deviation of the valid values."""
        if not self.count:
            return math.nan
        m = self.mean
        return math.sqrt(max(0.0, self.sum_sq / self.count - m * m))

    def add(self, values: np.ndarray, *, sketch: bool = True) -> None:
        """Fold one batch of raw values in (``sketch=False`` leaves the KLL sketch out,
        for a window that is only compared by its counts)."""
        good, missing, errors = _split_numeric(values)
        self.missing += missing
        self.type_errors += errors
        if good.size == 0:
            return
        self.count += int(good.size)
        self.min = min(self.min, float(good.min()))
        self.max = max(self.max, float(good.max()))
        with np.errstate(over="ignore"):  # values near 1e308: the sums become inf
            self.sum += float(good.sum())
            self.sum_sq += float(np.dot(good, good))
        if self.range_lo > -math.inf or self.range_hi < math.inf:
            self.below += int(np.count_nonzero(good < self.range_lo))
            self.above += int(np.count_nonzero(good > self.range_hi))
        self.counts += np.bincount(_bins(self.edges, good), minlength=self.counts.size)
        if not sketch:
            return
        if self.kll is None:
            self.kll = kll_doubles_sketch(200)
        plain = good.flags.c_contiguous and good.flags.writeable  # what the binding accepts
        self.kll.update(good if plain else np.array(good))

    def bin_indices(self, values: np.ndarray) -> np.ndarray:
        """The bin of each valid value (for calibration chunks)."""
        good, _, _ = _split_numeric(values)
        return _bins(self.edges, good)

    def merge(self, other: NumericColumn) -> None:
        """Add ``other``'s counts into this one (same edges required)."""
        if not np.array_equal(self.edges, other.edges):
            raise InvalidInput(f"column {self.name!r}: profiles were binned on different edges")
        self.counts += other.counts
        self.count += other.count
        self.missing += other.missing
        self.type_errors += other.type_errors
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.sum += other.sum
        self.sum_sq += other.sum_sq
        self.below += other.below
        self.above += other.above
        if other.kll is not None:
            if self.kll is None:
                self.kll = kll_doubles_sketch(200)
            self.kll.merge(other.kll)

    def quantile(self, q: float) -> float:
        """Approximate quantile from the KLL sketch (NaN when empty)."""
        return float(self.kll.get_quantile(q)) if self.kll is not None and self.count else math.nan

    def empty_like(self) -> NumericColumn:
        """A new, empty column binned on the same edges (counting values outside this
        column's range)."""
        lo, hi = (self.min, self.max) if self.count else (-math.inf, math.inf)
        return NumericColumn(self.name, self.edges, np.zeros_like(self.counts),
                             range_lo=lo, range_hi=hi)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "numeric", "edges": self.edges.tolist(), "counts": self.counts.tolist(),
            "count": self.count, "missing": self.missing, "type_errors": self.type_errors,
            "min": self.min if self.count else None, "max": self.max if self.count else None,
            "sum": _json_float(self.sum), "sum_sq": _json_float(self.sum_sq),
            "kll": base64.b64encode(self.kll.serialize()).decode() if self.kll else None,
            "range": [_finite_or_none(self.range_lo), _finite_or_none(self.range_hi)],
            "below": self.below, "above": self.above,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> NumericColumn:
        col = cls(name, np.asarray(d["edges"], dtype=np.float64),
                  np.asarray(d["counts"], dtype=np.int64))  # fmt: skip
        col.count, col.missing, col.type_errors = d["count"], d["missing"], d["type_errors"]
        col.min = math.inf if d["min"] is None else float(d["min"])
        col.max = -math.inf if d["max"] is None else float(d["max"])
        col.sum, col.sum_sq = float(d["sum"]), float(d["sum_sq"])
        if d.get("kll"):
            col.kll = kll_doubles_sketch.deserialize(base64.b64decode(d["kll"]))
        lo, hi = d.get("range") or (None, None)
        col.range_lo = -math.inf if lo is None else float(lo)
        col.range_hi = math.inf if hi is None else float(hi)
        col.below, col.above = int(d.get("below", 0)), int(d.get("above", 0))
        return col


def _json_float(x: float) -> float | str:
    """A float for JSON: inf, -inf and nan as strings (``float()`` reads them back)."""
    return x if math.isfinite(x) else str(x)


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass
class CategoricalColumn:
    """A categorical column's summary."""

    name: str
    categories: tuple[str, ...]  # the reference's top K, in count order
    counts: np.ndarray  # int64, one per category plus OTHER last
    count: int = 0
    missing: int = 0
    type_errors: int = 0
    hll: Any = field(default=None, repr=False)
    kind: Kind = "categorical"

    def add(self, values: np.ndarray, *, sketch: bool = True) -> None:
        """Fold one batch of raw values in."""
        self.add_counts(*_category_counts(values))
        del sketch  # the HLL sketch costs one update per distinct value: always kept

    def add_counts(self, counts: Mapping[str, int], missing: int) -> None:
        """Fold in a batch already counted per category string (see ``add``)."""
        self.missing += missing
        if not counts:
            return
        self.count += sum(counts.values())
        other = len(self.categories)
        index = {c: i for i, c in enumerate(self.categories)}
        for value, n in counts.items():
            self.counts[index.get(value, other)] += n
        if self.hll is None:
            self.hll = hll_sketch(_HLL_LG_K)
        for value in sorted(counts):
            self.hll.update(value)

    @property
    def distinct(self) -> float:
        """Estimated number of distinct values (HLL)."""
        return float(self.hll.get_estimate()) if self.hll is not None else 0.0

    def merge(self, other: CategoricalColumn) -> None:
        """Add ``other``'s counts into this one (same categories required)."""
        if self.categories != other.categories:
            raise InvalidInput(f"column {self.name!r}: profiles use different categories")
        self.counts += other.counts
        self.count += other.count
        self.missing += other.missing
        self.type_errors += other.type_errors
        if other.hll is not None:
            union = hll_union(_HLL_LG_K)
            if self.hll is not None:
                union.update(self.hll)
            union.update(other.hll)
            self.hll = union.get_result()

    def empty_like(self) -> CategoricalColumn:
        """A new, empty column with the same categories."""
        return CategoricalColumn(self.name, self.categories, np.zeros_like(self.counts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical", "categories": list(self.categories),
            "counts": self.counts.tolist(), "count": self.count, "missing": self.missing,
            "type_errors": self.type_errors,
            "hll": base64.b64encode(self.hll.serialize_compact()).decode() if self.hll else None,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> CategoricalColumn:
        col = cls(name, tuple(d["categories"]), np.asarray(d["counts"], dtype=np.int64))
        col.count, col.missing, col.type_errors = d["count"], d["missing"], d["type_errors"]
        if d.get("hll"):
            col.hll = hll_sketch.deserialize(base64.b64decode(d["hll"]))
        return col


Column = NumericColumn | CategoricalColumn


class Profile:
    """A mergeable summary of a batch, per column.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> ref = Profile.build({"amount": rng.normal(100, 10, 1000),
        ...                      "channel": rng.choice(["web", "app", "branch"], 1000)})
        >>> ref.rows, int(ref["amount"].counts.sum()), sorted(ref["channel"].categories)
        (1000, 1000, ['app', 'branch', 'web'])
        >>> a = Profile.build({"amount": [99.0, 101.0], "channel": ["web", "fax"]}, reference=ref)
        >>> int(a["channel"].counts[-1])  # "fax" is not a reference category
        1
    """

    def __init__(self, columns: Mapping[str, Column], rows: int = 0) -> None:
        self.columns: dict[str, Column] = dict(columns)
        self.rows = rows

    def __getitem__(self, name: str) -> Column:
        return self.columns[name]

    @classmethod
    def build(
        cls,
        data: Any,
        *,
        reference: Profile | None = None,
        bins: int = 10,
        top_k: int = 20,
        categorical: Iterable[str] = (),
        sketches: bool = True,
    ) -> Profile:
        """Profile one batch. Without ``reference`` this *is* a reference: numeric bin
        edges come from its quantiles and categories from its top ``top_k`` values.
        With ``reference``, the batch is binned on the reference's edges and categories
        (columns the reference lacks are ignored; see ``monitoring.quality`` for schema
        changes). ``sketches=False`` leaves the KLL quantile sketches out (a window that
        is only compared by its counts, as ``Baseline.check`` does).

        Raises:
            InvalidInput: the data is not a batch of columns, or is empty as a reference.
        """
        cols = columns_of(data)
        rows = len(next(iter(cols.values()))) if cols else 0
        if reference is None:
            if rows == 0:
                raise InvalidInput("a reference needs at least one row")
            forced = set(categorical)
            made = dict(zip(cols, _each(
                lambda n: _new_column(n, cols[n], bins, top_k, n in forced), list(cols), rows,
            ), strict=True))  # fmt: skip
            profile = cls({n: col for n, (col, _) in made.items()})
            counted = {n: c for n, (_, c) in made.items() if c is not None}
        else:
            profile, counted = reference.empty_like(), {}

        def fill(name: str) -> None:
            col = profile.columns[name]
            if name in counted:
                col.add_counts(*counted[name])  # type: ignore[union-attr]
            elif name in cols:
                col.add(cols[name], sketch=sketches)

        _each(fill, list(profile.columns), rows)
        profile.rows = rows
        return profile

    def empty_like(self) -> Profile:
        """An empty profile with this one's columns, edges and categories."""
        return Profile({n: c.empty_like() for n, c in self.columns.items()})

    def merge(self, other: Profile) -> Profile:
        """A new profile of both batches (associative; the inputs are unchanged)."""
        if self.columns.keys() != other.columns.keys():
            raise InvalidInput("profiles with different columns cannot be merged")
        out = Profile.from_dict(self.to_dict())
        for name, col in out.columns.items():
            col.merge(other.columns[name])  # type: ignore[arg-type]
        out.rows = self.rows + other.rows
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (sketches as base64)."""
        return {
            "format": FORMAT,
            "rows": self.rows,
            "columns": {n: c.to_dict() for n, c in self.columns.items()},
        }

    def to_json(self) -> bytes:
        """Compact JSON bytes."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        """Read :meth:`to_dict` output.

        Raises:
            InvalidInput: not a profile, or a newer format.
        """
        if not isinstance(d, Mapping) or "columns" not in d:
            raise InvalidInput("not a tether profile (no 'columns')")
        if d.get("format", 0) > FORMAT:
            raise InvalidInput(f"profile format {d['format']} is newer than this tether knows")
        columns: dict[str, Column] = {}
        for name, c in d["columns"].items():
            columns[name] = (
                NumericColumn.from_dict(name, c) if c["kind"] == "numeric"
                else CategoricalColumn.from_dict(name, c)
            )  # fmt: skip
        return cls(columns, int(d.get("rows", 0)))

    @classmethod
    def from_json(cls, data: bytes | str) -> Profile:
        """Read :meth:`to_json` output.

        Raises:
            InvalidInput: not JSON, or not a profile.
        """
        try:
            return cls.from_dict(orjson.loads(data))
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"profile is not JSON: {exc}") from None


_POOL_ROWS = 100_000  # batches from this many rows are profiled a column per thread


def _each(fn: Callable[[str], T], names: list[str], rows: int) -> list[T]:
    """``[fn(n) for n in names]``, spread over threads for a big batch: numpy's sorts,
    comparisons and counts release the GIL, so columns overlap on several cores."""
    workers = min(len(names), os.cpu_count() or 1, 4)
    if rows < _POOL_ROWS or workers < 2:
        return [fn(n) for n in names]
    with ThreadPoolExecutor(workers, thread_name_prefix="tether-profile") as pool:
        return list(pool.map(fn, names))


def _new_column(
    name: str, values: np.ndarray, bins: int, top_k: int, categorical: bool
) -> tuple[Column, tuple[dict[str, int], int] | None]:
    """A reference column (empty) and, for a categorical one, its batch's counts."""
    if not categorical and values.dtype.kind in "iuf":
        good, _, _ = _split_numeric(values)
        return NumericColumn(name, *_edges_counts(good, bins)), None
    raw = _raw_counts(values) if values.dtype.kind in "OUS" else None
    if not categorical and values.dtype.kind == "O" and _mostly_numeric(values, raw):
        good, _, _ = _split_numeric(values)  # mostly numbers: a numeric column
        return NumericColumn(name, *_edges_counts(good, bins)), None
    counts, missing = _category_counts(values, raw)
    # the top K by count, ties in string order (as np.lexsort((uniq, -freq)) orders them)
    cats = tuple(sorted(counts, key=lambda c: (-counts[c], c))[:top_k])
    column = CategoricalColumn(name, cats, np.zeros(len(cats) + 1, dtype=np.int64))
    return column, (counts, missing)


def _edges_counts(good: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    if bins < 2:
        raise InvalidInput("bins must be at least 2")
    if good.size == 0:
        edges = np.zeros(0)
    else:
        qs = np.quantile(good, np.linspace(0, 1, bins + 1)[1:-1])
        edges = np.unique(qs)
    return edges.astype(np.float64), np.zeros(edges.size + 1, dtype=np.int64)
