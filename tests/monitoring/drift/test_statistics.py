"""Each drift statistic against scipy or an independent computation, its invariants,
and its input validation."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import spatial, stats

from tether.errors import InvalidInput
from tether.monitoring.drift import (
    PSI,
    STATISTICS,
    ChiSquare,
    DriftStatistic,
    Hellinger,
    JensenShannon,
    KolmogorovSmirnov,
    LInfinity,
    StatResult,
    Wasserstein,
    bin_positions,
    defaults_for,
    get_statistic,
)

INF = math.inf
TOL = 1e-9
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None)


def count_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Random count vectors over 2-15 bins, with empty bins on one side and both."""
    rng = np.random.default_rng(20240601)
    pairs = []
    for size, total in [(2, 50), (3, 10), (5, 1000), (7, 40), (10, 100_000), (12, 300), (15, 25)]:
        p = rng.dirichlet(np.ones(size))
        q = rng.dirichlet(np.ones(size))
        ref = rng.multinomial(total, p)
        cur = rng.multinomial(int(total * rng.uniform(0.5, 2)), q)
        if size >= 5:
            ref[1], cur[3] = 0, 0  # empty on one side
            ref[-1], cur[-1] = 0, 0  # empty in both
        pairs.append((ref, cur))
    return pairs


PAIRS = count_pairs()
IDS = [f"{r.size}bins-{int(r.sum())}vs{int(c.sum())}" for r, c in PAIRS]


def finite_edges(size: int) -> np.ndarray:
    return np.cumsum(np.random.default_rng(size).uniform(0.1, 2.0, size + 1)) - 3.0


def open_edges(size: int) -> np.ndarray:
    e = finite_edges(size)
    e[0], e[-1] = -INF, INF
    return e


def props(counts: np.ndarray) -> list[float]:
    total = float(sum(counts))
    return [float(c) / total for c in counts]


# --- agreement with scipy / an independent computation ----------------------------------


@pytest.mark.parametrize(("ref", "cur"), PAIRS, ids=IDS)
def test_jensen_shannon_equals_scipy_base_2(ref: np.ndarray, cur: np.ndarray) -> None:
    expected = spatial.distance.jensenshannon(ref, cur, base=2)
    assert JensenShannon().compute(ref, cur).value == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize(("ref", "cur"), PAIRS, ids=IDS)
@pytest.mark.parametrize("edges_of", [finite_edges, open_edges], ids=["finite", "open-ends"])
def test_wasserstein_equals_scipy_on_bin_positions_over_scale(
    ref: np.ndarray, cur: np.ndarray, edges_of: Callable[[int], np.ndarray]
) -> None:
    edges = edges_of(ref.size)
    x = bin_positions(edges, ref.size, open_width=1.7)
    expected = stats.wasserstein_distance(x, x, ref, cur) / 1.7
    actual = Wasserstein().compute(ref, cur, edges=edges, scale=1.7).value
    assert actual == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize(("ref", "cur"), PAIRS, ids=IDS)
def test_ks_equals_scipy_ks_2samp_asymptotic_on_the_binned_values(
    ref: np.ndarray, cur: np.ndarray
) -> None:
    # Samples whose values are the bin indices have exactly these histograms; their
    # ECDFs differ only at the bin boundaries, so ks_2samp's D is the edge statistic.
    index = np.arange(ref.size)
    expected = stats.ks_2samp(np.repeat(index, ref), np.repeat(index, cur), method="asymp")
    actual = KolmogorovSmirnov().compute(ref, cur)
    assert actual.value == pytest.approx(expected.statistic, abs=TOL)
    assert actual.p_value == pytest.approx(expected.pvalue, abs=TOL)


@pytest.mark.parametrize(("ref", "cur"), PAIRS, ids=IDS)
def test_ks_p_value_is_kstwo_with_the_effective_sample_size(
    ref: np.ndarray, cur: np.ndarray
) -> None:
    n, m = float(ref.sum()), float(cur.sum())
    d = max(abs(a - b) for a, b in zip(np.cumsum(props(ref)), np.cumsum(props(cur)), strict=True))
    actual = KolmogorovSmirnov().compute(ref, cur)
    assert actual.value == pytest.approx(d, abs=TOL)
    assert actual.p_value == pytest.approx(stats.kstwo.sf(d, round(n * m / (n + m))), abs=TOL)


@pytest.mark.parametrize(("ref", "cur"), PAIRS, ids=IDS)
def test_chi_square_equals_scipy_contingency_without_bins_empty_in_both(
    ref: np.ndarray, cur: np.ndarray
) -> None:
    kept = (ref + cur) > 0
    expected = stats.chi2_contingency(np.array([ref[kept], cur[kept]]), correction=False)
    actual = ChiSquare().compute(ref, cur)
    assert actual.value == pytest.approx(expected.statistic, abs=TOL)
    assert actual.p_value == pytest.approx(expected.pvalue, abs=TOL)


@pytest.mark.parametrize(("ref", "cur"), PAIRS, ids=IDS)
def test_psi_equals_the_formula_with_floored_proportions(ref: np.ndarray, cur: np.ndarray) -> None:
    eps = 1e-4
    expected = sum(
        (max(q, eps) - max(p, eps)) * math.log(max(q, eps) / max(p, eps))
        for p, q in zip(props(ref), props(cur), strict=True)
    )
    assert PSI().compute(ref, cur).value == pytest.approx(expected, abs=TOL)
    big = PSI(epsilon=0.01).compute(ref, cur).value
    assert big <= PSI(epsilon=1e-6).compute(ref, cur).value  # a larger floor damps empty bins


@pytest.mark.parametrize(("ref", "cur"), PAIRS, ids=IDS)
def test_hellinger_equals_one_minus_bhattacharyya_form(ref: np.ndarray, cur: np.ndarray) -> None:
    bc = sum(math.sqrt(p * q) for p, q in zip(props(ref), props(cur), strict=True))
    assert Hellinger().compute(ref, cur).value == pytest.approx(math.sqrt(1 - bc), abs=TOL)


@pytest.mark.parametrize(("ref", "cur"), PAIRS, ids=IDS)
def test_linf_is_the_largest_change_of_one_share(ref: np.ndarray, cur: np.ndarray) -> None:
    expected = max(abs(p - q) for p, q in zip(props(ref), props(cur), strict=True))
    assert LInfinity().compute(ref, cur).value == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("name", sorted(STATISTICS))
def test_compute_many_equals_compute_row_by_row_shared_and_paired(name: str) -> None:
    stat = get_statistic(name)
    size = 10
    rng = np.random.default_rng(5)
    refs = rng.multinomial(500, np.full(size, 0.1), size=6)
    curs = rng.multinomial(800, rng.dirichlet(np.ones(size)), size=6)
    kw = {"edges": open_edges(size), "scale": 1.3}
    shared, _ = stat.compute_many(refs[0], curs, **kw)
    paired, paired_p = stat.compute_many(refs, curs, **kw)
    for i in range(6):
        one = stat.compute(refs[0], curs[i], **kw)
        assert shared[i] == pytest.approx(one.value, abs=1e-12)
        own = stat.compute(refs[i], curs[i], **kw)
        assert paired[i] == pytest.approx(own.value, abs=1e-12)
        assert (paired_p is None) == (own.p_value is None)


# --- invariants ---------------------------------------------------------------------------


def kwargs_for(size: int) -> dict[str, object]:
    return {"edges": np.arange(size + 1, dtype=float), "scale": 1.0}


@pytest.mark.parametrize("name", sorted(STATISTICS))
@pytest.mark.parametrize(("ref", "cur"), PAIRS, ids=IDS)
def test_every_statistic_is_symmetric(name: str, ref: np.ndarray, cur: np.ndarray) -> None:
    stat = get_statistic(name)
    kw = kwargs_for(ref.size)
    forward, backward = stat.compute(ref, cur, **kw), stat.compute(cur, ref, **kw)
    assert forward.value == pytest.approx(backward.value, abs=1e-12)
    if forward.p_value is not None:
        assert forward.p_value == pytest.approx(backward.p_value, abs=1e-12)


@pytest.mark.parametrize("name", sorted(STATISTICS))
@pytest.mark.parametrize(("ref", "cur"), PAIRS, ids=IDS)
def test_every_statistic_is_zero_on_identical_and_proportional_counts(
    name: str, ref: np.ndarray, cur: np.ndarray
) -> None:
    stat = get_statistic(name)
    kw = kwargs_for(ref.size)
    same = stat.compute(ref, ref, **kw)
    assert same.value == 0.0
    assert same.p_value in (None, 1.0)
    assert stat.compute(ref, 3 * ref, **kw).value == pytest.approx(0.0, abs=1e-12)


counts = st.lists(st.integers(0, 60), min_size=2, max_size=12).filter(lambda c: sum(c) > 0)


@st.composite
def count_vectors(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    ref = draw(counts)
    cur = draw(
        st.lists(st.integers(0, 60), min_size=len(ref), max_size=len(ref)).filter(
            lambda c: sum(c) > 0
        )
        | st.sampled_from([ref, [2 * c for c in ref]])  # equal distributions, often
    )
    return ref, cur


@pytest.mark.parametrize("name", sorted(STATISTICS))
@SETTINGS
@given(pair=count_vectors())
def test_statistics_are_non_negative_and_zero_iff_the_distributions_are_equal(
    name: str, pair: tuple[list[int], list[int]]
) -> None:
    ref, cur = pair
    value = get_statistic(name).compute(ref, cur, **kwargs_for(len(ref))).value
    equal = all(a * sum(cur) == b * sum(ref) for a, b in zip(ref, cur, strict=True))
    assert math.isfinite(value)
    assert value >= 0.0
    if equal:
        assert value == pytest.approx(0.0, abs=1e-12)
    else:
        assert value > 0.0


@pytest.mark.parametrize("name", ["jensen_shannon", "hellinger", "linf", "ks"])
@SETTINGS
@given(pair=count_vectors())
def test_bounded_statistics_stay_within_zero_and_one(
    name: str, pair: tuple[list[int], list[int]]
) -> None:
    assert 0.0 <= get_statistic(name).compute(*pair).value <= 1.0 + 1e-12


def test_disjoint_distributions_reach_the_bounds() -> None:
    for stat in (JensenShannon(), Hellinger(), LInfinity(), KolmogorovSmirnov()):
        assert stat.compute([5, 0], [0, 7]).value == pytest.approx(1.0, abs=1e-12)


def test_p_values_fall_as_the_same_shift_is_seen_on_more_rows() -> None:
    small = KolmogorovSmirnov().compute([50, 50], [45, 55]).p_value
    large = KolmogorovSmirnov().compute([50_000, 50_000], [45_000, 55_000]).p_value
    assert small is not None
    assert large is not None
    assert large < 1e-9 < 0.05 < small


# --- bin positions ------------------------------------------------------------------------


def test_open_outer_bins_sit_half_their_neighbours_width_beyond_their_edge() -> None:
    positions = bin_positions([-INF, 0.0, 1.0, 3.0, INF], 4)
    assert positions.tolist() == [-0.5, 0.5, 2.0, 4.0]


def test_finite_outer_edges_such_as_min_and_max_give_plain_centres() -> None:
    assert bin_positions([-4.0, 0.0, 1.0, 5.0], 3).tolist() == [-2.0, 0.5, 3.0]


def test_two_open_bins_take_their_width_from_open_width() -> None:
    assert bin_positions([-INF, 2.0, INF], 2, open_width=2.0).tolist() == [1.0, 3.0]
    with pytest.raises(InvalidInput, match="no finite neighbour"):
        bin_positions([-INF, 2.0, INF], 2)


def test_a_single_unbounded_bin_has_position_zero_and_no_wasserstein_drift() -> None:
    assert bin_positions([-INF, INF], 1).tolist() == [0.0]
    assert Wasserstein().compute([3], [9], edges=[-INF, INF], scale=1.0).value == 0.0


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([0.0, 1.0], "len\\(counts\\) \\+ 1 = 4"),
        ([0.0, 2.0, 1.0, 3.0], "strictly increasing"),
        ([0.0, 1.0, 1.0, 3.0], "strictly increasing"),
        ([0.0, INF, 2.0, 3.0], "-inf allowed only first"),
        ([INF, 1.0, 2.0, 3.0], "-inf allowed only first"),
        ([0.0, math.nan, 2.0, 3.0], "-inf allowed only first"),
        ([[0.0, 1.0, 2.0, 3.0]], "1-D"),
        (["a", "b", "c", "d"], "must be numbers"),
    ],
)
def test_bad_edges_are_rejected(edges: list[object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Wasserstein().compute([1, 2, 3], [3, 2, 1], edges=edges, scale=1.0)


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STATISTICS))
@pytest.mark.parametrize(
    ("ref", "cur", "message"),
    [
        ([1, 2, 3], [1, 2], "current counts have 2 bins but reference counts have 3"),
        ([1, -2, 3], [1, 2, 3], "reference counts must be non-negative; entry 1 is -2.0"),
        ([1, 2, 3], [1, 2, math.nan], "current counts must be finite; entry 2 is nan"),
        ([1, 2, 3], [1, INF, 3], "current counts must be finite"),
        ([0, 0, 0], [1, 2, 3], "reference counts are all zero"),
        ([1, 2, 3], [0, 0, 0], "current counts are all zero: an empty histogram"),
        ([[1, 2, 3]], [1, 2, 3], "reference counts must be a 1-D vector"),
        ([1, 2, 3], [[1, 2, 3]], "current counts must be a non-empty 1-D vector"),
        ([], [], "current counts must be a non-empty 1-D vector"),
        (["x", "y"], [1, 2], "reference counts must be numbers"),
    ],
)
def test_bad_counts_raise_invalid_input_naming_the_problem(
    name: str, ref: object, cur: object, message: str
) -> None:
    stat = get_statistic(name)
    with pytest.raises(InvalidInput, match=message.replace("(", "\\(").replace(")", "\\)")):
        stat.compute(ref, cur, edges=[0, 1, 2, 3], scale=1.0)  # type: ignore[arg-type]


def test_compute_many_names_the_empty_row() -> None:
    with pytest.raises(InvalidInput, match="current counts are all zero \\(row 1\\)"):
        LInfinity().compute_many([1, 1], [[1, 0], [0, 0]])
    with pytest.raises(InvalidInput, match="a matrix with 2 rows like current"):
        LInfinity().compute_many([[1, 1]] * 3, [[1, 0], [0, 1]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"edges": [0.0, 1.0, 2.0]}, "wasserstein needs scale="),
        ({"edges": [0.0, 1.0, 2.0], "scale": 0.0}, "positive finite number, got 0.0"),
        ({"edges": [0.0, 1.0, 2.0], "scale": -1.0}, "positive finite number"),
        ({"edges": [0.0, 1.0, 2.0], "scale": math.nan}, "positive finite number"),
        ({"edges": [0.0, 1.0, 2.0], "scale": "wide"}, "scale must be a number"),
        ({"scale": 1.0}, "wasserstein needs edges="),
    ],
)
def test_wasserstein_needs_edges_and_a_positive_scale(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        Wasserstein().compute([1, 2], [2, 1], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("epsilon", [0.0, 1.0, -1e-4, "small"])
def test_psi_rejects_an_epsilon_outside_zero_one(epsilon: object) -> None:
    with pytest.raises(InvalidInput, match="epsilon must be a number in \\(0, 1\\)"):
        PSI(epsilon=epsilon).compute([1, 2], [2, 1])  # type: ignore[arg-type]


def test_unknown_statistic_names_suggest_the_closest() -> None:
    with pytest.raises(InvalidInput, match="unknown drift statistic 'jensen_shanon'; did you mean"):
        get_statistic("jensen_shanon")
    with pytest.raises(InvalidInput, match=r"'psi'.*unexpected keyword"):
        get_statistic("psi", epsilom=0.1)


def test_defaults_are_registered_and_fit_their_kind() -> None:
    assert defaults_for("numeric") == ["wasserstein", "psi"]
    assert defaults_for("categorical") == ["jensen_shannon", "chi_square", "linf"]
    for kind in ("numeric", "categorical"):
        assert all(STATISTICS[n].kind in (kind, "both") for n in defaults_for(kind))
    with pytest.raises(InvalidInput, match="use 'numeric' or 'categorical'"):
        defaults_for("both")


# --- the estimator contract, checked on every registered statistic ------------------------


@pytest.mark.parametrize("name", sorted(STATISTICS))
def test_every_statistic_follows_the_estimator_contract(name: str) -> None:
    cls = STATISTICS[name]
    assert issubclass(cls, DriftStatistic)
    assert cls.name == name
    assert cls.kind in ("numeric", "categorical", "both")
    assert cls.higher_is_drift is True
    assert "Example:" in (cls.__doc__ or "")
    params = list(inspect.signature(cls).parameters.values())
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    assert all(p.default is not inspect.Parameter.empty for p in params)
    stat = cls()
    assert vars(stat) == {p.name: p.default for p in params}  # stores parameters only
    assert repr(stat).startswith(f"{cls.__name__}(")
    assert stat == cls()
    assert hash(stat) == hash(cls())
    result = stat.compute([3, 4, 5], [5, 4, 3], edges=[0, 1, 2, 3], scale=1.0)
    assert isinstance(result, StatResult)
    assert result.statistic == name
    assert vars(stat) == {p.name: p.default for p in params}  # and learns nothing
