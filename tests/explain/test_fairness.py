"""Fairness metrics equal fairlearn's, per group and per intersection; small groups are
reported and left out; breaches become fairness signals."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from tether import InvalidInput
from tether.explain.fairness import FairnessReport, fairness_report

TOL = 1e-12


def population(n: int = 3000, seed: int = 11) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Seeded decisions that favour men and the middle-aged, with a tiny group."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    age = rng.choice(["<30", "30-50", ">50"], n, p=[0.3, 0.5, 0.2])
    region = rng.choice(["north", "south", "isles"], n, p=[0.555, 0.44, 0.005])
    y_true = rng.integers(0, 2, n)
    p = 0.35 + 0.15 * (sex == "M") + 0.1 * (age == "30-50") + 0.2 * y_true
    y_pred = (rng.random(n) < p).astype(int)
    return y_true, y_pred, pd.DataFrame({"sex": sex, "age": age, "region": region})


Y_TRUE, Y_PRED, GROUPS = population()


def fairlearn_by_group(columns: list[str], rows: Any = slice(None)) -> pd.DataFrame:
    frame = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=Y_TRUE[rows], y_pred=Y_PRED[rows],
        sensitive_features=GROUPS.loc[rows, columns] if columns else None,
    )  # fmt: skip
    return frame.by_group


def group_name(columns: list[str], key: Any) -> str:
    values = key if isinstance(key, tuple) else (key,)
    return " & ".join(f"{c}={v}" for c, v in zip(columns, values, strict=True))


def test_every_group_and_intersection_equals_fairlearn() -> None:
    report = fairness_report(Y_TRUE, Y_PRED, GROUPS[["sex", "age"]], min_group=0)
    assert [d.dimension for d in report.dimensions] == ["sex", "age", "sex & age"]
    for columns in (["sex"], ["age"], ["sex", "age"]):
        reference = fairlearn_by_group(columns)
        assert len(reference) == sum(g.dimension == " & ".join(columns) for g in report.groups)
        for key, row in reference.iterrows():
            g = report.group(group_name(columns, key))
            assert abs(g.selection_rate - row["sr"]) <= TOL
            assert g.true_positive_rate is not None
            assert g.false_positive_rate is not None
            assert abs(g.true_positive_rate - row["tpr"]) <= TOL
            assert abs(g.false_positive_rate - row["fpr"]) <= TOL
            assert g.size == int(
                (GROUPS[columns].astype(str) == list(g_values(key))).all(axis=1).sum()
            )
        d = next(d for d in report.dimensions if d.dimension == " & ".join(columns))
        sf = GROUPS[columns]
        eod = equalized_odds_difference(Y_TRUE, Y_PRED, sensitive_features=sf)
        dpr = demographic_parity_ratio(Y_TRUE, Y_PRED, sensitive_features=sf)
        assert d.equalized_odds_difference is not None
        assert d.min_impact_ratio is not None
        assert abs(d.equalized_odds_difference - eod) <= TOL
        assert abs(d.min_impact_ratio - dpr) <= TOL
    overall = equalized_odds_difference(Y_TRUE, Y_PRED, sensitive_features=GROUPS[["sex", "age"]])
    assert report.equalized_odds_difference is not None
    assert abs(report.equalized_odds_difference - overall) <= TOL  # the intersection is worst


def g_values(key: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (key if isinstance(key, tuple) else (key,)))


def test_impact_ratios_are_rates_over_the_highest_group() -> None:
    report = fairness_report(Y_TRUE, Y_PRED, {"sex": GROUPS["sex"], "age": GROUPS["age"]})
    for d in report.dimensions:
        mine = [g for g in report.groups if g.dimension == d.dimension]
        best = max(g.selection_rate for g in mine)
        assert d.reference == next(g.group for g in mine if g.selection_rate == best)
        for g in mine:
            assert g.impact_ratio == g.selection_rate / best
            assert g.four_fifths_ok == (g.selection_rate / best >= 0.8)
    assert report.group("sex=M").impact_ratio == 1.0
    assert report.four_fifths_ok is False  # F under 30 against M aged 30-50


def test_small_groups_are_reported_and_left_out_of_ratios_and_differences() -> None:
    report = fairness_report(Y_TRUE, Y_PRED, GROUPS[["sex", "region"]], min_group=30)
    isles = report.group("region=isles")
    assert isles.too_small
    assert isles.size < 30
    assert isles.impact_ratio is None
    assert isles.four_fifths_ok is None
    assert isles.selection_rate > 0
    assert "region=isles" in report.too_small
    assert any("too small to judge" in note and "region=isles" in note for note in report.notes)
    region = next(d for d in report.dimensions if d.dimension == "region")
    assert (region.judged, region.too_small) == (2, ("region=isles",))
    judged = (GROUPS["region"] != "isles").to_numpy()
    eod = equalized_odds_difference(
        Y_TRUE[judged], Y_PRED[judged], sensitive_features=GROUPS["region"][judged]
    )
    assert region.equalized_odds_difference is not None
    assert abs(region.equalized_odds_difference - eod) <= TOL
    both = next(d for d in report.dimensions if d.dimension == "sex & region")
    assert set(both.too_small) == {"sex=F & region=isles", "sex=M & region=isles"}
    keep = judged
    eod = equalized_odds_difference(
        Y_TRUE[keep], Y_PRED[keep], sensitive_features=GROUPS[["sex", "region"]][keep]
    )
    assert both.equalized_odds_difference is not None
    assert abs(both.equalized_odds_difference - eod) <= TOL


def test_a_dimension_without_two_judged_groups_is_not_judged() -> None:
    report = fairness_report(Y_TRUE[:50], Y_PRED[:50], {"sex": GROUPS["sex"][:50]}, min_group=30)
    d = report.dimensions[0]
    assert (d.judged, d.min_impact_ratio, d.equalized_odds_difference) == (0, None, None)
    assert all(g.impact_ratio is None for g in report.groups)
    assert report.four_fifths_ok is None
    assert report.equalized_odds_difference is None
    assert any("nothing to compare" in note for note in report.notes)


def test_an_undefined_rate_is_none_not_zero() -> None:
    y_true = np.array([0] * 40 + [0, 1] * 20)  # group A has no positive label
    y_pred = np.array([0, 1] * 20 + [1, 1, 0, 1] * 10)  # both groups: FPR 0.5
    report = fairness_report(y_true, y_pred, {"g": ["A"] * 40 + ["B"] * 40})
    a = report.group("g=A")
    assert (a.true_positive_rate, a.false_positive_rate) == (None, 0.5)
    assert report.dimensions[0].true_positive_rate_difference is None
    assert report.dimensions[0].equalized_odds_difference == 0.0  # the FPRs agree
    assert any("g=A: no positive labels" in note for note in report.notes)


def test_unlabelled_windows_get_selection_rates_and_labels_can_be_named() -> None:
    decisions = np.where(Y_PRED == 1, "approve", "deny")
    report = fairness_report(None, decisions, GROUPS[["sex"]], positive="approve")
    assert not report.labelled
    g = report.group("sex=F")
    assert abs(g.selection_rate - Y_PRED[GROUPS["sex"] == "F"].mean()) <= TOL
    assert g.true_positive_rate is None
    assert report.equalized_odds_difference is None
    assert report.dimensions[0].min_impact_ratio is not None


def test_to_dict_is_json_ready() -> None:
    report = fairness_report(Y_TRUE, Y_PRED, GROUPS[["sex", "region"]])
    doc = orjson.loads(orjson.dumps(report.to_dict()))
    assert doc["attributes"] == ["sex", "region"]
    assert doc["too_small"] == list(report.too_small)
    assert {g["group"] for g in doc["groups"]} == {g.group for g in report.groups}
    assert doc["groups"][0]["four_fifths_ok"] == report.groups[0].four_fifths_ok


def test_breaches_become_fairness_signals() -> None:
    sex = ["F"] * 100 + ["M"] * 100 + ["X"] * 100
    y_pred = [1] * 30 + [0] * 70 + [1] * 70 + [0] * 30 + [1] * 50 + [0] * 50
    report = fairness_report(None, y_pred, {"sex": sex})
    signals = report.signals("loan-model", window="2026-01-01", version="v3")
    assert [(s.feature, s.severity, s.statistic) for s in signals] == [
        ("sex=F", "high", "impact_ratio"),  # 0.3 / 0.7 = 0.43
        ("sex=X", "medium", "impact_ratio"),  # 0.5 / 0.7 = 0.71
    ]
    s = signals[0]
    assert (s.kind, s.system, s.threshold, s.window, s.version) == (
        "fairness",
        "loan-model",
        0.8,
        "2026-01-01",
        "v3",
    )
    assert abs(s.value - 0.3 / 0.7) <= TOL
    assert "sex=M (the highest)" in s.detail
    assert report.signals("loan-model", threshold=0.4) == []
    with pytest.raises(InvalidInput, match=r"threshold=1\.5"):
        report.signals("loan-model", threshold=1.5)


def test_equalized_odds_signals_when_asked() -> None:
    report = fairness_report(Y_TRUE, Y_PRED, GROUPS[["sex"]])
    eod = report.equalized_odds_difference
    assert eod is not None
    assert not [s for s in report.signals("m") if s.statistic != "impact_ratio"]
    found = report.signals("m", eod_threshold=eod / 3)
    odds = [s for s in found if s.statistic == "equalized_odds_difference"]
    assert [(s.feature, s.severity, s.value) for s in odds] == [("sex", "high", eod)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 1], [0, 1, 1], {"s": ["a", "b", "a"]}), "y_true has 2 rows and y_pred 3"),
        (([0, 1, 2], [0, 1, 1], {"s": ["a"] * 3}), "y_true holds 0, 1, 2"),
        ((None, ["yes", "no"], {"s": ["a", "b"]}), "set positive="),
        ((None, [0, 1], {"s": ["a", None]}), "1 missing values"),
        ((None, [0, 1], {"s": ["a"]}), "has 1 values for 2 decisions"),
        ((None, [0, 1], {}), "mapping of attribute name to values"),
        ((None, [0, 1], ["a", "b"]), "mapping of attribute name to values"),
        ((None, [], {"s": []}), "non-empty 1-D"),
    ],
)
def test_bad_input_is_refused_with_the_fix(args: tuple[Any, Any, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        fairness_report(*args)


def test_min_group_is_checked_and_groups_are_found_by_name() -> None:
    with pytest.raises(InvalidInput, match="min_group=-1"):
        fairness_report(None, [0, 1], {"s": ["a", "b"]}, min_group=-1)
    report: FairnessReport = fairness_report(None, [0, 1], {"s": ["a", "b"]}, min_group=1)
    with pytest.raises(InvalidInput, match="no group 's=c'; the groups are s=a, s=b"):
        report.group("s=c")
