"""Attributions add up to the model's own output, are reproducible to the byte, and
refuse bad rows with a message that says what to do."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier

from tether import InvalidInput
from tether.explain import Attribution, Explainer, Explanation, explain, explainer_for
from tether.explain._explanation import rank

FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None)
NAMES = ["income", "debt", "age", "tenure", "score", "loans"]


def data(n: int = 300, f: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, f))
    margin = x[:, 0] - x[:, 1] * x[:, 2] + 0.5 * x[:, 3 % f] + rng.normal(scale=0.5, size=n)
    return x, (margin > 0).astype(int), margin + x[:, f - 1]


X, Y, R = data()
ROWS = X[200:205]


def additivity(e: Explanation) -> float:
    return abs(e.base_value + sum(a.attribution for a in e.attributions) - e.output_value)


@pytest.mark.parametrize(
    ("model", "own"),
    [
        (GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0),
         lambda m, x: m.decision_function(x)),
        (GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0),
         lambda m, x: m.predict(x)),
        (RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0),
         lambda m, x: m.predict_proba(x)[:, 1]),
        (RandomForestRegressor(n_estimators=15, max_depth=6, random_state=0),
         lambda m, x: m.predict(x)),
        (ExtraTreesRegressor(n_estimators=10, max_depth=5, random_state=0),
         lambda m, x: m.predict(x)),
        (DecisionTreeClassifier(max_depth=4, random_state=0),
         lambda m, x: m.predict_proba(x)[:, 1]),
        (HistGradientBoostingClassifier(max_iter=20, random_state=0),
         lambda m, x: m.decision_function(x)),
    ],
    ids=["gbm-classifier", "gbm-regressor", "forest-classifier", "forest-regressor",
         "extra-trees", "decision-tree", "hist-gbm"],
)  # fmt: skip
def test_tree_attributions_sum_to_the_models_own_output(model: Any, own: Any) -> None:
    target = R if "Regressor" in type(model).__name__ else Y
    model.fit(X, target)
    explainer = Explainer(model, feature_names=NAMES)
    assert explainer.name == "TreeExplainer"
    expected = own(model, ROWS)
    for row, want in zip(ROWS, expected, strict=True):
        e = explainer.explain(row)
        assert e.library.startswith("shap ")
        assert abs(e.output_value - want) <= 1e-9
        assert abs(e.base_value + sum(a.attribution for a in e.attributions) - want) <= 1e-6


def test_output_kinds_are_explicit() -> None:
    gbm = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, Y)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, Y)
    assert explain(gbm, X[0]).output == "margin"
    assert explain(forest, X[0]).output == "probability"
    assert explain(GradientBoostingRegressor(n_estimators=5).fit(X, R), X[0]).output == "prediction"
    with pytest.raises(InvalidInput, match="has no margin; use output='probability'"):
        Explainer(forest, output="margin")
    with pytest.raises(InvalidInput, match="needs background="):
        Explainer(gbm, output="probability")
    with pytest.raises(InvalidInput, match="is a classifier"):
        Explainer(gbm, output="prediction")
    with pytest.raises(InvalidInput, match="must be one of"):
        Explainer(gbm, output="logit")  # type: ignore[arg-type]


def test_boosted_probability_and_interventional_trees_add_up() -> None:
    gbm = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, Y)
    e = explain(gbm, X[201], background=X[:60], output="probability")
    assert (e.output, e.explainer) == ("probability", "TreeExplainer")
    assert abs(e.output_value - gbm.predict_proba(X[201:202])[0, 1]) <= 1e-9
    assert additivity(e) <= 1e-6
    assert e.background.startswith("sha256:")
    margin = explain(gbm, X[201], background=X[:60])
    assert abs(margin.output_value - gbm.decision_function(X[201:202])[0]) <= 1e-9
    assert additivity(margin) <= 1e-6


def test_the_other_class_and_multiclass_targets() -> None:
    gbm = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, Y)
    positive, negative = explain(gbm, X[3]), explain(gbm, X[3], target=0)
    assert (positive.target, negative.target) == ("1", "0")
    assert negative.output_value == -positive.output_value
    assert [a.attribution for a in negative.attributions] == [
        -a.attribution for a in positive.attributions
    ]
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, Y)
    assert (
        abs(explain(forest, X[3], target=0).output_value - forest.predict_proba(X[3:4])[0, 0])
        < 1e-12
    )
    three = np.digitize(X[:, 0], [-0.5, 0.5])
    hist = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, three)
    e = explain(hist, X[7])
    assert e.target == str(hist.predict(X[7:8])[0])  # default: the predicted class
    assert abs(e.output_value - hist.decision_function(X[7:8])[0, int(e.target)]) < 1e-9
    assert additivity(explain(hist, X[7], target=2)) <= 1e-6
    # shap's TreeExplainer takes only binary GradientBoostingClassifier: the fallback does
    multi = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X[:, :4], three)
    e = explain(multi, X[7, :4], background=X[:20, :4], target=2)
    assert (e.explainer, e.target, e.output) == ("ExactShapley", "2", "margin")
    assert abs(e.output_value - multi.decision_function(X[7:8, :4])[0, 2]) < 1e-12
    assert additivity(e) < 1e-12
    with pytest.raises(InvalidInput, match="not one of the model's classes"):
        explain(gbm, X[3], target="yes")
    with pytest.raises(InvalidInput, match="a regressor has no classes"):
        explain(GradientBoostingRegressor(n_estimators=5).fit(X, R), X[3], target=1)


@pytest.mark.parametrize(
    "model", [LogisticRegression(), LinearRegression(), Ridge(alpha=2.0)], ids=type
)
def test_linear_attributions_are_coef_times_distance_from_the_background_mean(
    model: Any,
) -> None:
    model.fit(X, Y if isinstance(model, LogisticRegression) else R)
    background = X[:100]
    explainer = Explainer(model, background=background)
    assert explainer.name == "LinearExplainer"
    coef = np.ravel(model.coef_)
    own = model.decision_function if hasattr(model, "decision_function") else model.predict
    for row in ROWS:
        e = explainer.explain(row)
        want = coef * (row - background.mean(axis=0))
        assert np.abs(np.array([a.attribution for a in e.attributions]) - want).max() < 1e-12
        assert abs(e.output_value - own(row[None])[0]) < 1e-9
        assert additivity(e) <= 1e-9
    with pytest.raises(InvalidInput, match="pass background="):
        Explainer(model)


def test_a_glm_is_not_taken_for_linear() -> None:
    poisson = PoissonRegressor().fit(X[:, :4], np.exp(X[:, 0] / 3))
    e = explain(poisson, X[9, :4], background=X[:30, :4])
    assert e.explainer == "ExactShapley"
    assert abs(e.output_value - poisson.predict(X[9:10, :4])[0]) < 1e-12
    assert additivity(e) < 1e-12


def brute_force_shapley(f: Any, x: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Shapley values by the textbook sum over coalitions (independent of _shapley.py)."""
    n = len(x)

    def v(coalition: tuple[int, ...]) -> float:
        rows = background.copy()
        rows[:, list(coalition)] = x[list(coalition)]
        return float(np.mean(f(rows)))

    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for s in itertools.combinations(others, size):
                phi[i] += weight * (v((*s, i)) - v(s))
    return phi


def test_the_fallback_is_exact_shapley() -> None:
    # shap's ExactExplainer agrees to 3e-17 too, but its numba start-up costs 6 s.
    x = X[:, :5]
    knn = KNeighborsClassifier().fit(x, Y)
    background = x[:20]
    e = explain(knn, x[250], background=background)
    assert (e.explainer, e.library) == ("ExactShapley", "tether 0.1.0.dev0")
    want = brute_force_shapley(lambda z: knn.predict_proba(z)[:, 1], x[250], background)
    assert np.abs(want - [a.attribution for a in e.attributions]).max() < 1e-12
    assert abs(e.base_value - knn.predict_proba(background)[:, 1].mean()) < 1e-12
    assert abs(e.output_value - knn.predict_proba(x[250:251])[0, 1]) < 1e-12
    assert additivity(e) < 1e-12


def test_many_features_walk_fixed_orderings_and_stay_additive() -> None:
    x, _, r = data(n=200, f=12, seed=3)
    knn = KNeighborsRegressor().fit(x, r)
    first = explain(knn, x[150], background=x[:80])
    again = Explainer(knn, background=x[:80]).explain(x[150])
    assert first.explainer == "PermutationShapley"
    assert first.to_json() == again.to_json()
    assert abs(first.output_value - knn.predict(x[150:151])[0]) < 1e-12
    assert additivity(first) < 1e-9


class Additive:
    """A model with no coef_: sum of weights times inputs (Shapley values are exact)."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights
        self.n_features_in_ = len(weights)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return rows @ self.weights


def test_permutation_shapley_is_exact_for_an_additive_model() -> None:
    weights = np.arange(1.0, 15.0)
    x = np.random.default_rng(4).normal(size=(60, 14))
    e = explain(Additive(weights), x[0], background=x[1:])
    background = x[1:][(np.arange(50) * 59) // 50]  # the 50 evenly spaced rows it keeps
    want = weights * (x[0] - background.mean(axis=0))
    assert e.explainer == "PermutationShapley"
    assert np.abs(np.array([a.attribution for a in e.attributions]) - want).max() < 1e-9


def test_the_same_decision_explained_twice_gives_the_same_bytes() -> None:
    gbm = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, Y)
    row = dict(zip(NAMES, X[42].tolist(), strict=True))
    first = explain(gbm, row, feature_names=NAMES, key="sha256:model-a")
    cached = explain(gbm, row, feature_names=NAMES, key="sha256:model-a")
    fresh = Explainer(gbm, feature_names=NAMES, key="sha256:model-a").explain(row)
    assert first.to_json() == cached.to_json() == fresh.to_json()
    assert Explanation.from_json(first.to_json()) == first
    assert Explanation.from_json(first.to_json().decode()).to_json() == first.to_json()
    assert first.model == "sha256:model-a"
    assert explainer_for(gbm, key="sha256:model-a", feature_names=NAMES) is explainer_for(
        gbm, key="sha256:model-a", feature_names=NAMES
    )
    assert explainer_for(gbm, key="sha256:model-b") is not explainer_for(gbm, key="sha256:model-a")
    with pytest.raises(InvalidInput, match="model's digest"):
        explainer_for(gbm, key="")


def test_a_model_fitted_on_a_frame_takes_its_feature_names_and_a_frame_background() -> None:
    frame = pd.DataFrame(X, columns=NAMES)
    knn = KNeighborsClassifier().fit(frame.iloc[:, :4], Y)  # predicts warn on arrays
    e = explain(knn, frame.iloc[5, :4], background=frame.iloc[:30, [3, 1, 0, 2]])
    assert [a.feature for a in e.attributions] == NAMES[:4]
    assert additivity(e) < 1e-12
    logistic = LogisticRegression().fit(frame, Y)
    assert explain(logistic, frame.iloc[5].to_dict(), background=frame).explainer == (
        "LinearExplainer"
    )
    with pytest.raises(InvalidInput, match="differ from the features the model was fitted on"):
        Explainer(logistic, feature_names=NAMES[::-1], background=frame)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({**dict(zip(NAMES, range(6), strict=True)), "incme": 1.0}, "did you mean 'income'"),
        ({"income": 1.0, "debt": 2.0}, "lacks feature 'age'"),
        ([1.0, 2.0, 3.0], "row has 3 values; the model takes 6"),
        (np.zeros((1, 6)), "pass row\\[0\\]"),
        (["1", 2, 3, 4, 5, 6], "non-numeric value '1'"),
        ([None, 2, 3, 4, 5, 6], "non-numeric value None"),
        ([float("nan"), 2, 3, 4, 5, 6], "needs the finite values"),
        ([np.inf, 2, 3, 4, 5, 6], "'income' is inf"),
        ("1,2,3,4,5,6", "must be a mapping of feature to value"),
    ],
)
def test_bad_rows_are_refused_with_the_fix(row: Any, message: str) -> None:
    explainer = Explainer(GradientBoostingRegressor(n_estimators=5).fit(X, R), feature_names=NAMES)
    with pytest.raises(InvalidInput, match=message):
        explainer.explain(row)


def test_bad_settings_are_refused() -> None:
    gbm = GradientBoostingRegressor(n_estimators=5).fit(X, R)
    with pytest.raises(InvalidInput, match="top=0"):
        explain(gbm, X[0], top=0)
    with pytest.raises(InvalidInput, match="5 feature names for a model that takes 6"):
        Explainer(gbm, feature_names=NAMES[:5])
    with pytest.raises(InvalidInput, match="repeat"):
        Explainer(gbm, feature_names=["a"] * 6)
    with pytest.raises(InvalidInput, match="background has shape"):
        Explainer(LinearRegression().fit(X, R), background=X[:, :3])
    with pytest.raises(InvalidInput, match="numbers only"):
        Explainer(LinearRegression().fit(X, R), background=[["a"] * 6])
    with pytest.raises(InvalidInput, match="not a stored explanation"):
        Explanation.from_json(b'{"schema": "tether.explanation/1"}')
    with pytest.raises(InvalidInput, match="schema"):
        Explanation.from_json(b'{"schema": "other"}')


attribution_lists = st.lists(
    st.tuples(
        st.floats(-1e6, 1e6, allow_nan=False),
        st.sampled_from([0.0, 0.5, -0.5]) | st.floats(-10, 10, allow_nan=False),
    ),
    min_size=1,
    max_size=12,
)


@FAST
@given(attribution_lists, st.integers(1, 15))
def test_top_is_ordered_by_size_then_feature_order(pairs: list[Any], top: int) -> None:
    rows = [Attribution(f"f{i}", v, a) for i, (v, a) in enumerate(pairs)]
    best = rank(rows, top)
    assert len(best) == min(top, len(rows))
    keys = [(-abs(a.attribution), rows.index(a)) for a in best]
    assert keys == sorted(keys)
    rest = [a for a in rows if a not in best]
    assert all(abs(r.attribution) <= abs(best[-1].attribution) for r in rest)


@FAST
@given(attribution_lists, st.integers(1, 15))
def test_the_sentence_names_each_moving_top_feature_once_and_round_trips(
    pairs: list[Any], top: int
) -> None:
    e = Explanation.build(
        explainer="TreeExplainer", library="shap 0.51.0", output="margin", target="1",
        base_value=0.25, output_value=0.25 + sum(a for _, a in pairs),
        attributions=[(f"f{i}", v, a) for i, (v, a) in enumerate(pairs)], top=top,
    )  # fmt: skip
    for a in e.attributions:
        named = f"{a.feature} = " in e.sentence
        assert named == (a in e.top and a.attribution != 0)
    assert e.sentence.startswith("The score of class 1 was ")
    assert ("no feature moved it" in e.sentence) == all(a.attribution == 0 for a in e.top)
    assert Explanation.from_json(e.to_json()) == e
    assert Explanation.from_json(e.to_json()).to_json() == e.to_json()


@FAST
@given(
    st.lists(
        st.tuples(st.text(max_size=8), st.floats(allow_nan=False, allow_infinity=False),
                  st.floats(allow_nan=False, allow_infinity=False)),
        min_size=1, max_size=6, unique_by=lambda t: t[0],
    ),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)  # fmt: skip
def test_to_json_is_rfc8785(rows: list[Any], base: float, key: str) -> None:
    e = Explanation.build(
        explainer="ExactShapley", library="tether", output="prediction", target=None,
        base_value=base, output_value=base, attributions=rows, top=3, model=key,
    )  # fmt: skip
    assert e.to_json() == rfc8785.dumps(e.as_dict())
    with pytest.raises(InvalidInput, match="finite numbers only"):
        Explanation.build(
            explainer="x", library="x", output="prediction", target=None,
            base_value=float("nan"), output_value=0.0, attributions=rows,
        ).to_json()  # fmt: skip
