"""Delayed labels: joined once, in any order; unknown ids reported; metrics per window."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from tests.pipeline.conftest import setup_governance

from tether import InvalidInput, Tether
from tether.monitoring._feedback import classification_metrics, roc_auc
from tether.testing import FrozenClock


def scored(gov: Tether, clock: FrozenClock, n: int) -> list[tuple[str, float]]:
    rng = np.random.default_rng(7)

    @gov.governed("loan-model", "predict", actor="svc:scoring")
    def predict(income: float) -> float:
        return float(1 / (1 + np.exp(-(income - 50) / 10)))

    out = []
    for i in range(n):
        if i == n // 2:
            clock.advance(days=1)  # the second half lands in the next daily window
        d = gov.pipeline.execute(predict, (), {"income": float(rng.normal(50, 15))},
                                 system="loan-model", action="predict", actor="svc:scoring",
                                 inputs={"income": 0.0})  # fmt: skip
        out.append((d.id, d.output))
    return out


def test_labels_join_once_in_any_order_and_unknown_ids_are_reported(
    make_tether: Callable[..., Tether], clock: FrozenClock
) -> None:
    gov = setup_governance(make_tether())
    decisions = scored(gov, clock, 40)
    labels = [(d, int(score > 0.5)) for d, score in decisions]
    first = gov.feedback.add_many(list(reversed(labels[:25])), actor="svc:labels")
    assert (len(first.joined), first.duplicates, first.unknown) == (25, (), ())
    again = gov.feedback.add_many([*labels[20:], ("dec_nope", 1), labels[30]], actor="svc:labels")
    assert len(again.joined) == 15
    assert set(again.duplicates) == {d for d, _ in labels[20:25]} | {labels[30][0]}
    assert again.unknown == ("dec_nope",)
    assert gov.feedback.add_many([("dec_nope", 0)], actor="svc:labels").ledger_index is None
    entries = [e for e in gov.ledger.iter_entries() if e.kind == "feedback"]
    assert [len(e.payload["labels"]) for e in entries] == [25, 15]
    windows = gov.feedback.performance("loan-model", window=86_400)
    assert [w.n for w in windows] == [20, 20]
    assert all(w.metrics["accuracy"] == 1.0 for w in windows)  # labels agree with scores


def test_feedback_input_is_checked(make_tether: Callable[..., Tether]) -> None:
    t = make_tether()
    with pytest.raises(InvalidInput, match="non-empty string"):
        t.feedback.add("", 1, actor="svc:labels")


def test_metrics_match_an_independent_computation() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(500) < 0.4
    scores = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    m = classification_metrics(y.astype(float), scores, 0.5)
    pred = scores >= 0.5
    assert m["accuracy"] == np.mean(pred == y)
    tp = np.sum(pred & y)
    assert m["precision"] == tp / np.sum(pred)
    assert m["recall"] == tp / np.sum(y)
    # ROC AUC = probability that a random positive outranks a random negative
    pos, neg = scores[y], scores[~y]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert abs(roc_auc(y, scores) - pairs) < 1e-12


def test_a_rising_error_rate_raises_a_performance_signal_as_labels_arrive(
    make_tether: Callable[..., Tether], clock: FrozenClock
) -> None:
    gov = setup_governance(make_tether())
    rng = np.random.default_rng(9)

    @gov.governed("loan-model", "predict", actor="svc:scoring")
    def predict(income: float) -> float:
        return 0.9

    labels = []
    for i in range(1200):
        clock.advance(seconds=1)
        d = gov.pipeline.execute(
            predict, (), {"income": 1.0}, system="loan-model", action="predict",
            actor="svc:scoring", inputs={"income": 1.0},
        )  # fmt: skip
        wrong = rng.random() < (0.05 if i < 800 else 0.5)  # the model degrades after 800
        labels.append((d.id, 0 if wrong else 1))
    gov.feedback.add_many(labels[:800], actor="svc:labels")
    assert gov.signals.active("loan-model") == []
    gov.feedback.add_many(labels[800:], actor="svc:labels")
    (signal,) = gov.signals.active("loan-model")
    assert (signal["kind"], signal["statistic"]) == ("performance", "adwin_error_rate")
    assert signal["value"] > signal["threshold"]  # the error rate rose past where it was
    assert gov.signals.for_policy("loan-model")["performance"] in ("medium", "high")
