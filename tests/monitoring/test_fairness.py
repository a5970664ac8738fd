"""Fairness of a system's labelled decisions: groups from inputs or context, decisions
from the recorded scores, fairness signals for groups below four fifths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest

from tether import InvalidInput, Tether
from tether.monitoring._fairness import MISSING
from tether.policy import Policy
from tether.testing import FrozenClock

POLICY = """\
policy: fairness-test
systems:
  loan-model: {kind: model, owner: credit, risk_tier: high}
actions: [predict]
rules:
  - id: scoring-predicts
    actions: [predict]
    when: '"scoring" in actor.roles'
    effect: allow
"""


@pytest.fixture
def gov(make_tether: Callable[..., Tether]) -> Tether:
    t = make_tether()
    t.actors.register("svc:scoring", kind="service", roles=["scoring"], actor="admin")
    t.policies.publish(Policy.from_text(POLICY, "fairness.yaml"), actor="admin")
    return t


def traffic(
    t: Tether,
    clock: FrozenClock,
    rates: dict[str, float],
    n: int,
    *,
    seed: int,
    label: bool = True,
    region: bool = True,
) -> list[str]:
    """``n`` decisions per group of ``sex``, a group selected (score >= 0.5) at its rate;
    each labelled (agreeing with the decision 9 times in 10) unless ``label`` is off."""
    rng = np.random.default_rng(seed)
    ids, labels = [], []
    groups = [g for g in rates for _ in range(n)]
    for i in rng.permutation(len(groups)):
        sex = groups[i]
        selected = rng.uniform() < rates[sex]
        score = float(0.5 + 0.5 * rng.uniform()) if selected else float(0.5 * rng.uniform())
        context = {"region": str(rng.choice(["north", "south"]))} if region else {}
        clock.advance(seconds=1)
        d = t.pipeline.execute(lambda s=score: s, (), {}, system="loan-model", action="predict",
                               actor="svc:scoring", inputs={"income": 1.0, "sex": sex},
                               context=context)  # fmt: skip
        ids.append(d.id)
        labels.append((d.id, int(selected) if rng.uniform() < 0.9 else int(not selected)))
    if label:
        t.feedback.add_many(labels, actor="svc:labels")
    return ids


def fairness_signals(t: Tether) -> list[dict[str, object]]:
    return [s for s in t.signals.active("loan-model") if s["kind"] == "fairness"]


def test_a_group_selected_far_less_raises_a_fairness_signal_naming_it(
    gov: Tether, clock: FrozenClock
) -> None:
    traffic(gov, clock, {"F": 0.2, "M": 0.6}, 120, seed=1)
    report = gov.monitor.fairness("loan-model", sensitive=["sex", "context.region"])
    assert report.rows == 240
    assert report.labelled
    female, male = report.group("sex=F"), report.group("sex=M")
    assert female.impact_ratio is not None
    assert female.impact_ratio < 0.6
    assert male.impact_ratio == 1.0
    assert report.group("sex=F & context.region=north").size > 30  # intersections
    assert report.equalized_odds_difference is not None
    raised = fairness_signals(gov)
    assert "sex=F" in [s["feature"] for s in raised]
    named = {s["feature"] for s in raised}
    assert {"sex=F", "sex=F & context.region=north", "sex=F & context.region=south"} <= named
    assert not named & {"sex=M", "context.region=north", "context.region=south"}
    assert gov.signals.for_policy("loan-model")["fairness"] == "high"
    entries = [e for e in gov.ledger.iter_entries() if e.kind == "signal.raised"]
    first = next(e.payload for e in entries if e.payload["feature"] == "sex=F")
    assert first["statistic"] == "impact_ratio"
    assert first["window"].startswith("labelled decisions 2026-01-01 ")
    assert first["window"].endswith("(240)")
    assert "for sex=M (the highest)" in first["detail"]


def test_balanced_traffic_raises_no_fairness_signal(gov: Tether, clock: FrozenClock) -> None:
    traffic(gov, clock, {"F": 0.5, "M": 0.5}, 150, seed=2)
    report = gov.monitor.fairness("loan-model", sensitive=["sex"])
    assert report.four_fifths_ok is True
    assert fairness_signals(gov) == []
    assert gov.signals.for_policy("loan-model")["fairness"] == "none"


def test_too_small_groups_are_reported_not_judged(gov: Tether, clock: FrozenClock) -> None:
    traffic(gov, clock, {"F": 0.5, "M": 0.5}, 100, seed=3)
    traffic(gov, clock, {"X": 0.0}, 8, seed=4)  # never selected, but only 8 decisions
    report = gov.monitor.fairness("loan-model", sensitive=["sex"], min_group=30)
    small = report.group("sex=X")
    assert (small.size, small.too_small, small.impact_ratio, small.selection_rate) == (
        8,
        True,
        None,
        0.0,
    )
    assert report.too_small == ("sex=X",)
    assert any("too small to judge" in n and "sex=X" in n for n in report.notes)
    assert fairness_signals(gov) == []


def test_the_window_holds_labelled_decisions_only(gov: Tether, clock: FrozenClock) -> None:
    start = clock.now()
    traffic(gov, clock, {"F": 0.5, "M": 0.5}, 60, seed=5)  # balanced, early
    middle = clock.now() + timedelta(milliseconds=500)  # between the two batches
    traffic(gov, clock, {"F": 0.1, "M": 0.7}, 60, seed=6)  # skewed, later
    traffic(gov, clock, {"F": 0.1, "M": 0.7}, 60, seed=7, label=False)  # no labels yet
    early = gov.monitor.fairness("loan-model", sensitive=["sex"], until=middle, emit=False)
    assert early.rows == 120
    assert early.four_fifths_ok is True
    late = gov.monitor.fairness("loan-model", sensitive=["sex"], since=middle, emit=False)
    assert late.rows == 120
    assert late.four_fifths_ok is False
    last = gov.monitor.fairness("loan-model", sensitive=["sex"], last=120, emit=False)
    assert last.groups == late.groups
    flipped = gov.monitor.fairness(
        "loan-model", sensitive=["sex"], since=middle, positive=0, emit=False
    )
    for g in late.groups:
        assert flipped.group(g.group).selection_rate == pytest.approx(1 - g.selection_rate)
    everything = gov.monitor.fairness(
        "loan-model", sensitive=["sex"], since=start - timedelta(days=1), emit=False
    )
    assert everything.rows == 240
    assert fairness_signals(gov) == []  # emit=False raised nothing
    # a score at or above tether.feedback.threshold is a positive decision
    gov.feedback.threshold = 1.01
    nobody = gov.monitor.fairness("loan-model", sensitive=["sex"], emit=False)
    assert all(g.selection_rate == 0.0 for g in nobody.groups)


def test_decisions_lacking_an_attribute_form_their_own_group(
    gov: Tether, clock: FrozenClock
) -> None:
    traffic(gov, clock, {"F": 0.5, "M": 0.5}, 50, seed=8)
    traffic(gov, clock, {"F": 0.5}, 40, seed=9, region=False)
    report = gov.monitor.fairness("loan-model", sensitive=["context.region"], emit=False)
    assert report.group(f"context.region={MISSING}").size == 40
    assert any("40 decision(s) do not record it" in n for n in report.notes)


def test_what_cannot_be_measured_is_refused_clearly(gov: Tether, clock: FrozenClock) -> None:
    with pytest.raises(InvalidInput, match="no labelled decisions of 'loan-model'"):
        gov.monitor.fairness("loan-model", sensitive=["sex"])
    traffic(gov, clock, {"F": 0.5, "M": 0.5}, 20, seed=10)
    with pytest.raises(InvalidInput, match=r"did you mean 'context\.region'"):
        gov.monitor.fairness("loan-model", sensitive=["context.regoin"])
    with pytest.raises(InvalidInput, match="must be a list"):
        gov.monitor.fairness("loan-model", sensitive="sex")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="at least one attribute"):
        gov.monitor.fairness("loan-model", sensitive=[])
    with pytest.raises(InvalidInput, match="either last"):
        gov.monitor.fairness("loan-model", sensitive=["sex"], last=5, since=clock.now())
    with pytest.raises(InvalidInput, match="threshold"):
        gov.monitor.fairness("loan-model", sensitive=["sex"], threshold=1.5, min_group=5)
