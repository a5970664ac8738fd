"""Profiles: typed, mergeable summaries binned on the reference's edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether import InvalidInput
from tether.monitoring import OTHER, CategoricalColumn, NumericColumn, Profile


def reference(rng: np.random.Generator, n: int = 5000) -> Profile:
    return Profile.build({
        "amount": rng.lognormal(6, 1, n),
        "score": rng.normal(0, 1, n),
        "channel": rng.choice(["web", "app", "branch", "phone"], n, p=[0.5, 0.3, 0.15, 0.05]),
    })  # fmt: skip


def test_a_reference_bins_on_its_quantiles_and_keeps_its_top_categories() -> None:
    ref = reference(np.random.default_rng(1))
    amount = ref["amount"]
    assert isinstance(amount, NumericColumn)
    assert amount.edges.size == 9  # 10 bins from deciles: 9 inner edges + 2 open ends = 10
    assert int(amount.counts.sum()) == 5000
    assert np.all(np.abs(amount.counts - 500) <= 1)  # deciles hold a tenth each
    channel = ref["channel"]
    assert isinstance(channel, CategoricalColumn)
    assert channel.categories == ("web", "app", "branch", "phone")
    assert int(channel.counts[-1]) == 0  # nothing in OTHER for the reference itself
    assert 3.5 < channel.distinct < 4.5
    assert abs(amount.mean - math.exp(6.5)) / math.exp(6.5) < 0.05
    assert 0.9 < ref["score"].std < 1.1  # type: ignore[union-attr]


def test_a_window_uses_the_references_bins_and_categories() -> None:
    ref = reference(np.random.default_rng(2))
    window = Profile.build({"amount": [1e9, -5.0], "score": [0.0, 0.1],
                            "channel": ["web", "fax"], "extra": [1, 2]}, reference=ref)  # fmt: skip
    amount = window["amount"]
    assert isinstance(amount, NumericColumn)
    assert (int(amount.counts[0]), int(amount.counts[-1])) == (1, 1)  # open outer bins
    assert "extra" not in window.columns
    assert int(window["channel"].counts[-1]) == 1  # "fax" goes to OTHER
    assert window.rows == 2


def test_missing_values_and_type_errors_are_counted() -> None:
    ref = Profile.build({"x": np.array([1.0, 2.0, 3.0, 4.0] * 10)})
    window = Profile.build({"x": np.array([1.0, None, "n/a", "", float("nan"), "5"],
                                          dtype=object)}, reference=ref)  # fmt: skip
    x = window["x"]
    assert (x.count, x.missing, x.type_errors) == (2, 3, 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 400), st.integers(0, 2**32 - 1))
def test_merging_two_halves_equals_profiling_the_whole(cut: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = reference(rng, 2000)
    n = 401
    batch = {
        "amount": np.where(rng.random(n) < 0.05, np.nan, rng.lognormal(6, 1.5, n)),
        "score": rng.normal(0.3, 1, n),
        "channel": rng.choice(["web", "app", "fax", "mail"], n),
    }
    whole = Profile.build(batch, reference=ref)
    first = Profile.build({k: v[:cut] for k, v in batch.items()}, reference=ref)
    second = Profile.build({k: v[cut:] for k, v in batch.items()}, reference=ref)
    merged = first.merge(second)
    assert merged.rows == whole.rows
    for name, col in whole.columns.items():
        other = merged[name]
        assert np.array_equal(col.counts, other.counts), name
        assert (col.count, col.missing, col.type_errors) == (
            other.count, other.missing, other.type_errors,
        )  # fmt: skip
        if isinstance(col, NumericColumn):
            assert isinstance(other, NumericColumn)
            assert (col.min, col.max) == (other.min, other.max)
            assert math.isclose(col.sum, other.sum, rel_tol=1e-12)
            assert math.isclose(col.sum_sq, other.sum_sq, rel_tol=1e-12)
            assert other.kll is not None
            assert other.kll.n == col.count
    # associativity of the counts: (a + b) + c == a + (b + c)
    third = Profile.build({k: v[: n // 3] for k, v in batch.items()}, reference=ref)
    left, right = first.merge(second).merge(third), first.merge(second.merge(third))
    for name in whole.columns:
        assert np.array_equal(left[name].counts, right[name].counts)


def test_profiles_round_trip_through_json() -> None:
    ref = reference(np.random.default_rng(3))
    again = Profile.from_json(ref.to_json())
    assert again.to_dict() == ref.to_dict()
    assert again["amount"].quantile(0.5) == ref["amount"].quantile(0.5)  # type: ignore[union-attr]
    assert len(ref.to_json()) < 20_000


def test_bad_batches_get_clear_errors() -> None:
    with pytest.raises(InvalidInput, match="different lengths"):
        Profile.build({"a": [1, 2], "b": [1]})
    with pytest.raises(InvalidInput, match="cannot profile a list"):
        Profile.build([1, 2, 3])
    with pytest.raises(InvalidInput, match="at least one row"):
        Profile.build({"a": []})
    with pytest.raises(InvalidInput, match="not JSON"):
        Profile.from_json(b"{oops")
    ref = reference(np.random.default_rng(4))
    other = Profile.build({"amount": [1.0, 2.0, 3.0]})
    with pytest.raises(InvalidInput, match="different columns"):
        ref.merge(other)
    assert OTHER == "__other__"


def test_missing_values_of_nullable_pandas_dtypes_are_missing_not_values() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({
        "text": pd.array(["a", None, "b", "a"], dtype="string"),
        "count": pd.array([1, None, 3, 4], dtype="Int64"),
        "flag": pd.array([True, None, False, True], dtype="boolean"),
    })  # fmt: skip
    p = Profile.build(frame)
    assert (p["text"].kind, p["text"].missing, p["text"].categories) == (  # type: ignore[union-attr]
        "categorical",
        1,
        ("a", "b"),
    )
    assert (p["count"].kind, p["count"].count, p["count"].missing) == ("numeric", 3, 1)
    assert p["count"].type_errors == 0
    assert (p["flag"].count, p["flag"].missing) == (3, 1)


def test_sums_that_overflow_survive_json() -> None:
    p = Profile.build({"x": np.array([1e308, 1e308, -5.0, 3.0])})
    again = Profile.from_json(p.to_json())
    col = again["x"]
    assert isinstance(col, NumericColumn)
    assert (col.count, col.sum, col.max) == (4, math.inf, 1e308)


_MIXED = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "a", "b", "1", "1.0", "nan", "inf", "None", "True"]),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_MIXED, max_size=40), st.booleans())
def test_counting_distinct_values_equals_the_row_by_row_rules(values: list, as_text: bool) -> None:
    from tether.monitoring._profile import (
        _category_counts,
        _mostly_numeric,
        _raw_counts,
        _split_numeric,
        _strings,
    )

    arr = np.asarray([str(v) for v in values] if as_text else values, dtype=object)
    if as_text:
        arr = arr.astype(str) if arr.size else np.zeros(0, dtype=str)
    strings, missing = _strings(arr)
    uniq, freq = np.unique(strings, return_counts=True)
    assert _category_counts(arr) == (dict(zip(uniq.tolist(), freq.tolist(), strict=True)), missing)
    if arr.dtype.kind == "O":
        _, m, e = _split_numeric(arr)
        present = arr.size - m
        assert _mostly_numeric(arr, _raw_counts(arr)) == (bool(present) and e <= 0.05 * present)


@settings(max_examples=200, deadline=None)
@given(st.lists(_MIXED, max_size=40), st.booleans())
def test_calibration_bins_of_categories_equal_the_sorting_rule(values: list, as_text: bool) -> None:
    from tether.monitoring._baseline import _bin_indices
    from tether.monitoring._profile import _strings

    arr = np.asarray([str(v) for v in values] if as_text else values, dtype=object)
    if as_text:
        arr = arr.astype(str) if arr.size else np.zeros(0, dtype=str)
    col = CategoricalColumn("c", ("a", "1", ""), np.zeros(4, dtype=np.int64))
    strings, _ = _strings(arr)
    slot = {"a": 0, "1": 1, "": 2}
    expected = [slot.get(s, 3) for s in strings.tolist()]
    assert _bin_indices(col, arr).tolist() == expected


@pytest.mark.parametrize("storage", ["python", "pyarrow"])
def test_a_pandas_text_column_profiles_like_its_plain_numpy_values(storage: str) -> None:
    pd = pytest.importorskip("pandas")
    if storage == "pyarrow":
        pytest.importorskip("pyarrow")
    rng = np.random.default_rng(8)
    words = rng.choice(["web", "app", "", "1.5", "branch"], 5_000).astype(object)
    words[::7] = None
    frame = pd.DataFrame({"w": pd.array(words, dtype=pd.StringDtype(storage))})
    plain = {"w": words}  # what the column holds, as an object array
    a, b = Profile.build(frame), Profile.build(plain)
    assert a.to_dict()["columns"]["w"]["counts"] == b.to_dict()["columns"]["w"]["counts"]
    assert (a["w"].categories, a["w"].missing) == (b["w"].categories, b["w"].missing)  # type: ignore[union-attr]


def test_a_pyarrow_table_profiles_like_its_plain_values() -> None:
    pa = pytest.importorskip("pyarrow")
    words = ["web", None, "app", "", "web", "1.5"] * 500
    chunks = pa.chunked_array([words[:1000], words[1000:]])  # two chunks
    table = pa.table({"w": chunks, "x": pa.array([1.0, None, 3.0] * 1000)})
    a = Profile.build(table)
    b = Profile.build(
        {"w": np.asarray(words, dtype=object), "x": np.asarray([1.0, np.nan, 3.0] * 1000)}
    )
    assert a.to_dict()["columns"]["w"] == b.to_dict()["columns"]["w"]
    assert a["x"].counts.tolist() == b["x"].counts.tolist()


def test_coded_text_columns_calibrate_like_plain_ones_and_slices_forget_their_codes() -> None:
    pd = pytest.importorskip("pandas")
    from tether.monitoring import Baseline
    from tether.monitoring._profile import coded

    rng = np.random.default_rng(12)
    words = rng.choice(["web", "app", "", "branch", "fax"], 20_000, p=[0.5, 0.3, 0.1, 0.09, 0.01])
    plain = words.astype(object)
    plain[::11] = None
    frame = pd.DataFrame({"w": pd.array(plain, dtype="string"), "x": rng.normal(0, 1, 20_000)})
    a = Baseline.build(frame, window_size=1_000, top_k=3)
    b = Baseline.build({"w": plain, "x": frame["x"].to_numpy()}, window_size=1_000, top_k=3)
    assert a.thresholds == b.thresholds
    assert a.profile["w"].to_dict() == b.profile["w"].to_dict()
    assert a.profile["x"].counts.tolist() == b.profile["x"].counts.tolist()  # KLL is randomised
    from tether.monitoring._profile import columns_of

    column = columns_of(frame)["w"]
    assert coded(column) is not None
    assert coded(column[:100]) is None
    assert coded(column[[1, 2]]) is None
