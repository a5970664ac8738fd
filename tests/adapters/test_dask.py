"""The Dask adapter builds the same profile as Profile.build, partition by partition."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from tether import InvalidInput  # noqa: E402
from tether.adapters import dask as tether_dask  # noqa: E402
from tether.adapters._select import (  # noqa: E402
    QuantileSearch,
    answer,
    float_keys,
    key_floats,
    merge,
)
from tether.monitoring import CategoricalColumn, NumericColumn, Profile  # noqa: E402

SKETCHES = ("kll", "hll", "sum", "sum_sq")


@pytest.fixture(autouse=True)
def keep_object_columns() -> Iterator[None]:
    """Dask turns object columns of text into its ``string`` dtype by default, whose
    missing value is ``pd.NA``; these tests compare with the *pandas* frame, so they keep
    the frame's dtypes (``test_with_dasks_string_conversion...`` covers the default)."""
    with dask.config.set({"dataframe.convert-string": False}):
        yield


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def mixed_frame(seed: int, n: int) -> Any:
    """Floats with NaN and inf, ints, an object column with a few bad strings, a column
    of one value, zeros of both signs among huge and tiny magnitudes, a categorical with
    more than top_k values and tied counts, text that is not numeric, and booleans."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(6, 1.5, n)
    amount[rng.random(n) < 0.05] = np.nan
    amount[rng.random(n) < 0.01] = np.inf
    mixed = rng.normal(0, 1, n).astype(object)
    mixed[rng.random(n) < 0.02] = "n/a"
    mixed[rng.random(n) < 0.02] = None
    mixed[rng.random(n) < 0.02] = ""
    ints = rng.random(n) < 0.05
    mixed[ints] = rng.integers(-3, 3, int(ints.sum())).tolist()
    extremes = rng.choice([-0.0, 0.0, 1e-308, -5e-324, 1e150, -1e150, 3.0], n)
    # 30 categories with equal counts (for n = 6000), so the top 20 cut through a tie
    missing = n // 25
    labels = [None] * missing + [f"c{i % 30:02d}" for i in range(n - missing)]
    channel = np.asarray(labels, dtype=object)[rng.permutation(n)]
    words = rng.choice(np.array(["a", "b", "12", "c", "3.5"], dtype=object), n)
    return pd.DataFrame({
        "amount": amount,
        "count": rng.integers(0, 50, n),
        "mixed": mixed,
        "constant": np.where(rng.random(n) < 0.1, np.nan, 7.0),
        "extremes": extremes,
        "channel": channel,
        "words": words,
        "flag": rng.random(n) < 0.3,
    })  # fmt: skip


def split(frame: Any, cuts: list[int]) -> Any:
    """A Dask frame of ``frame`` cut at ``cuts`` (unequal partitions, empty ones allowed)."""
    bounds = list(zip([0, *cuts], [*cuts, len(frame)], strict=True))
    return dd.from_map(lambda b: frame.iloc[b[0] : b[1]], bounds, meta=frame.iloc[:0])


def assert_same(got: Profile, want: Profile) -> None:
    """Equal except the sketches and float sums, which stay within their bounds."""
    assert got.rows == want.rows
    assert list(got.columns) == list(want.columns)
    g, w = got.to_dict()["columns"], want.to_dict()["columns"]
    for name in w:
        assert {k: v for k, v in g[name].items() if k not in SKETCHES} == {
            k: v for k, v in w[name].items() if k not in SKETCHES
        }, name
        a, b = got[name], want[name]
        if isinstance(b, NumericColumn):
            assert isinstance(a, NumericColumn)
            # float64 sums in another order: rounding scales with the values' magnitude
            scale = b.count * max(abs(b.min), abs(b.max)) if b.count else 0.0
            assert math.isclose(a.sum, b.sum, rel_tol=1e-12, abs_tol=1e-13 * scale), name
            assert math.isclose(a.sum_sq, b.sum_sq, rel_tol=1e-12), name
            assert (a.kll is None) == (b.kll is None)
            if b.kll is not None:
                assert a.kll.n == b.kll.n == b.count
                eps = b.kll.normalized_rank_error(False)
                for q in (0.1, 0.25, 0.5, 0.75, 0.9):
                    # both sketches answer within their rank error of the same quantile
                    x = a.kll.get_quantile(q)
                    lo, hi = b.kll.get_rank(x, False), b.kll.get_rank(x, True)
                    assert lo - 3 * eps <= q <= hi + 3 * eps, (name, q)
        else:
            assert isinstance(a, CategoricalColumn)
            assert isinstance(b, CategoricalColumn)
            assert abs(a.distinct - b.distinct) <= 0.05 * max(b.distinct, 1.0), name


# --- on a LocalCluster --------------------------------------------------------------


def test_a_reference_built_on_a_cluster_equals_the_one_process_reference(client: Any) -> None:
    frame = mixed_frame(1, 6000)
    ddf = split(frame, [700, 700, 3100, 3200, 5999])  # six partitions, one empty
    got = tether_dask.profile(ddf, client=client)
    want = Profile.build(frame)
    assert_same(got, want)
    kinds = {name: col.kind for name, col in got.columns.items()}
    assert kinds == {
        "amount": "numeric", "count": "numeric", "mixed": "numeric", "constant": "numeric",
        "extremes": "numeric", "channel": "categorical", "words": "categorical",
        "flag": "categorical",
    }  # fmt: skip
    assert got["mixed"].type_errors > 0
    # of 30 categories, 192 each: the tie is broken in string order
    assert got["channel"].categories == tuple(f"c{i:02d}" for i in range(20))
    assert got["constant"].edges.tolist() == [7.0]  # type: ignore[union-attr]


def test_a_window_built_on_a_cluster_equals_the_one_process_window(client: Any) -> None:
    reference = Profile.build(mixed_frame(1, 6000))
    frame = mixed_frame(2, 4000)
    frame.loc[::7, "amount"] *= 50  # some values beyond the reference's range
    got = tether_dask.profile(split(frame, [10, 1500, 1600]), reference=reference, client=client)
    want = Profile.build(frame, reference=reference)
    assert_same(got, want)
    amount = got["amount"]
    assert isinstance(amount, NumericColumn)
    assert amount.above > 0


def test_options_mean_what_they_mean_for_profile_build(client: Any) -> None:
    frame = mixed_frame(3, 2000)
    ddf = split(frame, [500, 1200])
    options: dict[str, Any] = {"bins": 4, "top_k": 3, "categorical": ["count"]}
    got = tether_dask.profile(ddf, client=client, **options)
    assert_same(got, Profile.build(frame, **options))
    assert got["count"].kind == "categorical"
    assert len(got["channel"].categories) == 3


def test_with_dasks_string_conversion_it_equals_the_profile_of_the_computed_frame() -> None:
    frame = mixed_frame(4, 1500)
    with dask.config.set({"dataframe.convert-string": True, "scheduler": "synchronous"}):
        ddf = dd.from_pandas(frame, npartitions=3)
        assert_same(tether_dask.profile(ddf), Profile.build(ddf.compute()))


def test_what_travels_between_workers_pickles() -> None:
    # processes=False keeps the cluster fast, so check pickling (a real cluster's
    # transport) of every partial result explicitly: datasketches objects do not pickle.
    frame = mixed_frame(5, 300)
    tasks = {
        name: tether_dask._Task(detect=True, values=True, requests=tuple(search.requests()))
        for name in frame.columns
        for search in [QuantileSearch(np.array([0.5]))]
    }
    scan = tether_dask._scan(frame, tasks)
    again = pickle.loads(pickle.dumps(scan))
    assert again.rows == scan.rows == 300
    assert again.columns["channel"].values == scan.columns["channel"].values
    built = tether_dask._build(frame, Profile.build(frame).to_dict())
    assert Profile.from_dict(pickle.loads(pickle.dumps(built))).rows == 300


def test_column_kinds_follow_profile_build_at_the_boundaries() -> None:
    numbers: list[Any] = [float(i) for i in range(95)]
    frame = pd.DataFrame({
        "five_percent_bad": pd.Series([*numbers, *["x"] * 5], dtype=object),  # numeric
        "six_percent_bad": pd.Series([*numbers[:94], *["x"] * 6], dtype=object),  # text
        "all_missing": pd.Series([None] * 100, dtype=object),  # text, no categories
        "all_nan": np.full(100, np.nan),  # numeric, no edges
        "by_partition": pd.Series([*numbers, *["x"] * 5], dtype=object),  # numeric
    })  # fmt: skip
    # partitions whose dtypes differ concatenate to object: float64 here, object there
    parts = [frame.iloc[:60].astype({"all_missing": "float64", "by_partition": "float64"}),
             frame.iloc[60:]]  # fmt: skip
    ddf = dd.from_map(lambda i: parts[i], [0, 1], meta=frame.iloc[:0])
    with dask.config.set(scheduler="synchronous"):
        got = tether_dask.profile(ddf)
        want = Profile.build(ddf.compute())
    assert_same(got, want)
    assert [c.kind for c in got.columns.values()] == [
        "numeric", "categorical", "categorical", "numeric", "numeric",
    ]  # fmt: skip
    assert got["all_nan"].edges.size == 0  # type: ignore[union-attr]


# --- exact quantiles, without a cluster -----------------------------------------------

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None)
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-1e3, 1e3, allow_nan=False).map(lambda x: round(x, 1)),  # many duplicates
    st.integers(-(2**60), 2**60).map(float),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, -2.2e-308]),
)


def exact_quantiles(
    pieces: list[np.ndarray], qs: np.ndarray, bits: int, collect_limit: int
) -> np.ndarray:
    keys = [float_keys(p) for p in pieces]
    search = QuantileSearch(qs, bits=bits, collect_limit=collect_limit)
    rounds = 0
    while not search.done:
        asked = search.requests()
        merged = {}
        for r in asked:
            answers = [answer(k, r) for k in keys]
            merged[r] = answers[0]
            for a in answers[1:]:
                merged[r] = merge(merged[r], a)
        search.feed(merged)
        rounds += 1
    assert rounds <= -(-64 // bits)
    return search.result()


@SETTINGS
@given(
    st.lists(FLOATS, min_size=1, max_size=300),
    st.lists(st.integers(0, 300), max_size=4),
    st.one_of(
        st.integers(2, 30).map(lambda b: np.linspace(0, 1, b + 1)[1:-1]),
        st.lists(st.floats(0, 1), min_size=1, max_size=5).map(np.asarray),
    ),
    st.sampled_from([3, 12, 16]),
    st.sampled_from([0, 1, 7, 4096]),
)
def test_exact_quantiles_are_numpys_bit_for_bit(
    values: list[float], cuts: list[int], qs: np.ndarray, bits: int, collect_limit: int
) -> None:
    data = np.asarray(values, dtype=np.float64)
    pieces = np.split(data, sorted(min(c, data.size) for c in cuts))
    with np.errstate(over="ignore", invalid="ignore"):  # 1e308 - -1e308 overflows in both
        got = exact_quantiles(pieces, qs, bits, collect_limit)
        want = np.quantile(data, qs)
    # numpy may return -0.0 where we return +0.0 (it cannot tell the zeros apart either)
    assert (got + 0.0).tobytes() == (want + 0.0).tobytes()


def test_keys_keep_the_order_of_the_floats() -> None:
    values = np.array([-np.inf, -1e308, -1.0, -5e-324, -0.0, 0.0, 5e-324, 1.0, 1e308, np.inf])
    keys = float_keys(values)
    assert np.all(keys[1:] >= keys[:-1])
    assert keys[4] == keys[5]  # -0.0 and 0.0 are one value
    assert np.array_equal(key_floats(keys), values + 0.0)


# --- whole profiles on the synchronous scheduler --------------------------------------

CELLS = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-5, 5),
    st.sampled_from([None, math.nan, math.inf, "", "n/a", "x", "3.5", -0.0]),
)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.tuples(CELLS, st.floats(allow_nan=True, width=32), st.sampled_from("abcde")),
             min_size=1, max_size=60),
    st.lists(st.integers(0, 60), max_size=3),
    st.integers(2, 6),
    st.integers(0, 4),
)  # fmt: skip
def test_profiles_equal_profile_build_on_random_frames(
    rows: list[tuple[Any, float, str]], cuts: list[int], bins: int, top_k: int
) -> None:
    cells, floats, letters = zip(*rows, strict=True)
    frame = pd.DataFrame({
        "cells": pd.Series(cells, dtype=object),
        "floats": np.asarray(floats, dtype=np.float64),
        "letters": pd.Series(letters, dtype=object),
    })  # fmt: skip
    ddf = split(frame, sorted(min(c, len(frame)) for c in cuts))
    with dask.config.set(scheduler="synchronous"):
        got = tether_dask.profile(ddf, bins=bins, top_k=top_k)
        want = Profile.build(frame, bins=bins, top_k=top_k)
        assert_same(got, want)
        window = tether_dask.profile(ddf, reference=want)
        assert_same(window, Profile.build(frame, reference=want))


# --- bad input ------------------------------------------------------------------------


def test_bad_input_gets_a_clear_error() -> None:
    frame = mixed_frame(6, 50)
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(InvalidInput, match=r"not a DataFrame: use tether\.monitoring\.Profile"):
        tether_dask.profile(frame)
    with pytest.raises(InvalidInput, match=r"not a list"):
        tether_dask.profile([1, 2, 3])
    with pytest.raises(InvalidInput, match=r"to_frame\(\)"):
        tether_dask.profile(ddf["amount"])
    with pytest.raises(InvalidInput, match="bins must be an integer of at least 2, not 1"):
        tether_dask.profile(ddf, bins=1)
    with pytest.raises(InvalidInput, match="top_k must be"):
        tether_dask.profile(ddf, top_k=-1)
    with pytest.raises(InvalidInput, match="reference must be a tether Profile"):
        tether_dask.profile(ddf, reference=frame)
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(InvalidInput, match="at least one row"):
            tether_dask.profile(split(frame.iloc[:0], []))
        with pytest.raises(InvalidInput, match="no columns"):
            tether_dask.profile(dd.from_pandas(pd.DataFrame(index=range(3)), npartitions=1))
        empty = tether_dask.profile(split(frame.iloc[:0], []), reference=Profile.build(frame))
        assert empty.rows == 0


def test_without_dask_the_import_says_what_to_install() -> None:
    # in a child process: hiding dask here would break the cluster's threads
    code = "import sys; sys.modules['dask'] = None; import tether.adapters.dask"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    assert "ImportError: tether.adapters.dask needs Dask: pip install 'tether[dask]'" in (
        done.stderr
    )
