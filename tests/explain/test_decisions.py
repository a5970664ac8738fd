"""Recorded model decisions explained from the ledger: the version they name, verified;
stored once as a ``decision.explained`` entry; recomputed to the same bytes."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from tests.pipeline.conftest import check_ledger

from tether import InvalidInput, NotFound, Tether, VerificationError
from tether.explain import Explanation, _attributions
from tether.explain._decisions import EXPLAINED
from tether.policy import Policy
from tether.registry import ModelVersion

POLICY = """\
policy: explain-test
systems:
  loan-model: {kind: model, owner: credit, risk_tier: high}
actions: [predict, predict_proba]
rules:
  - id: scoring-predicts
    actions: [predict, predict_proba]
    when: '"scoring" in actor.roles'
    effect: allow
"""
FEATURES = ["income", "debt_ratio", "age", "tenure"]


def training(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([
        rng.normal(50_000, 15_000, n), rng.uniform(0.0, 1.0, n),
        rng.integers(18, 80, n).astype(float), rng.integers(0, 30, n).astype(float),
    ])  # fmt: skip
    approve = (x[:, 0] / 50_000 - 2.5 * x[:, 1] + rng.normal(0, 0.3, n)) > -0.2
    return x, approve.astype(int)


X, Y = training()
GBM = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0).fit(X, Y)
DECLINED = {"income": 38_000.0, "debt_ratio": 0.62, "age": 41.0, "tenure": 3.0}


@pytest.fixture
def gov(make_tether: Callable[..., Tether]) -> Tether:
    t = make_tether()
    t.actors.register("svc:scoring", kind="service", roles=["scoring"], actor="admin")
    t.policies.publish(Policy.from_text(POLICY, "explain.yaml"), actor="admin")
    return t


def register(t: Tether, folder: Path, model: Any = GBM, **kwargs: Any) -> ModelVersion:
    path = folder / f"model-{len(t.models.list('loan-model'))}.joblib"
    joblib.dump(model, path)
    kwargs = {"features": FEATURES, "background": X[:100], **kwargs}
    return t.models.register("loan-model", path, actor="user:ana", code=None,
                             environment=None, **kwargs)  # fmt: skip


def decide(
    t: Tether, v: ModelVersion | None, row: dict[str, Any], model: Any = GBM, **context: Any
) -> str:
    if v is not None:
        context["model"] = {"alias": "champion", "version": v.version, "digest": v.digest}
    x = np.array([[row.get(f, 0.0) for f in FEATURES]])
    d = t.pipeline.execute(lambda: float(model.predict_proba(x)[0, 1]), (), {},
                           system="loan-model", action="predict", actor="svc:scoring",
                           inputs=row, context=context)  # fmt: skip
    assert d.outcome == "executed"
    return d.id


def explained(t: Tether) -> list[Any]:
    return [e for e in t.ledger.iter_entries() if e.kind == EXPLAINED]


def test_a_decision_is_explained_additively_stored_once_and_recomputed_to_the_same_bytes(
    gov: Tether, tmp_path: Path
) -> None:
    v = register(gov, tmp_path)
    decision = decide(gov, v, DECLINED)
    e = gov.explanations.explain(decision)
    row = np.array([[DECLINED[f] for f in FEATURES]])
    assert (e.explainer, e.output, e.target, e.model) == ("TreeExplainer", "margin", "1", v.digest)
    assert [a.feature for a in e.attributions] == FEATURES
    assert abs(e.base_value + sum(a.attribution for a in e.attributions) - e.output_value) < 1e-6
    assert abs(e.output_value - GBM.decision_function(row)[0]) < 1e-9
    # stored: one decision.explained entry holding the canonical bytes
    [entry] = explained(gov)
    assert (entry.subject, entry.actor) == (f"decision/{decision}", "tether:explain")
    blob = e.to_json()
    assert entry.payload["explanation"].encode() == blob
    assert entry.payload["sha256"] == hashlib.sha256(blob).hexdigest()
    assert entry.payload["model"] == {"version": v.version, "digest": v.digest}
    # asked again: the stored one, no second entry
    size = gov.ledger.size
    again = gov.explanations.explain(decision, actor="user:someone-else")
    assert again.to_json() == blob
    assert gov.ledger.size == size
    assert gov.explanations.get(decision) == e
    stored = gov.explanations.stored(decision)
    assert stored is not None
    assert (stored.version, stored.digest, stored.ledger_index) == (v.version, v.digest,
                                                                    entry.index)  # fmt: skip
    # another ranking is a view; the stored bytes do not change
    two = gov.explanations.explain(decision, top=2)
    assert len(two.top) == 2
    assert two.attributions == e.attributions
    assert [x.payload["explanation"].encode() for x in explained(gov)] == [blob]
    # recomputed from scratch (a fresh tether, no cached model or explainer): same bytes
    _attributions._cache.clear()
    with Tether.open(gov.settings, clock=gov.clock) as fresh:
        assert fresh.explanations.recompute(decision).to_json() == blob
    assert gov.explanations.recompute(decision).to_json() == blob
    check_ledger(gov)  # the explanation is an ordinary, verifiable entry


def test_the_sentence_tells_a_declined_applicant_why(gov: Tether, tmp_path: Path) -> None:
    v = register(gov, tmp_path)
    e = gov.explanations.explain(decide(gov, v, DECLINED), top=3)
    assert GBM.predict(np.array([[DECLINED[f] for f in FEATURES]]))[0] == 0  # declined
    assert e.top[0].feature == "debt_ratio"
    assert e.top[0].attribution < 0
    assert e.sentence.startswith("The score of class 1 was -")
    assert ", below the average of " in e.sentence
    assert ", mostly because of debt_ratio = 0.62 (-" in e.sentence
    assert e.sentence.endswith(".")
    assert Explanation.from_json(e.to_json()).sentence == e.sentence


def test_a_tampered_model_file_is_refused(gov: Tether, tmp_path: Path) -> None:
    v = register(gov, tmp_path)
    decision = decide(gov, v, DECLINED)
    path = Path(v.uri.removeprefix("file://"))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(VerificationError, match="changed after registration"):
        gov.explanations.explain(decision)
    assert explained(gov) == []
    assert gov.explanations.get(decision) is None


def test_a_decision_recording_another_digest_than_its_version_is_refused(
    gov: Tether, tmp_path: Path
) -> None:
    v = register(gov, tmp_path)
    forged = {"alias": "champion", "version": v.version, "digest": "ab" * 32}
    decision = decide(gov, None, DECLINED, region="north")  # a context, no model
    other = gov.pipeline.execute(lambda: 0.1, (), {}, system="loan-model", action="predict",
                                 actor="svc:scoring", inputs=DECLINED,
                                 context={"model": forged}).id  # fmt: skip
    with pytest.raises(VerificationError, match="not made by the registered version"):
        gov.explanations.explain(other)
    with pytest.raises(InvalidInput, match="has no model context"):
        gov.explanations.explain(decision)
    assert explained(gov) == []


def test_unknown_decisions_and_versions_are_not_found(gov: Tether) -> None:
    with pytest.raises(NotFound, match="no decision 'dec_nope'"):
        gov.explanations.explain("dec_nope")
    assert gov.explanations.get("dec_nope") is None
    missing = {"alias": "champion", "version": 7, "digest": "cd" * 32}
    d = gov.pipeline.execute(lambda: 0.2, (), {}, system="loan-model", action="predict",
                             actor="svc:scoring", inputs=DECLINED,
                             context={"model": missing}).id  # fmt: skip
    with pytest.raises(NotFound, match="no version 7"):
        gov.explanations.explain(d)


def test_what_cannot_be_explained_is_refused_with_a_clear_message(
    gov: Tether, tmp_path: Path
) -> None:
    v = register(gov, tmp_path)
    bare = decide(gov, None, DECLINED)
    with pytest.raises(InvalidInput, match=r"has no model context \(context.model"):
        gov.explanations.explain(bare)
    partial = decide(gov, v, {k: x for k, x in DECLINED.items() if k != "age"})
    with pytest.raises(InvalidInput, match="lacks feature 'age' of loan-model version 1"):
        gov.explanations.explain(partial)
    with pytest.raises(InvalidInput, match="top=0"):
        gov.explanations.explain(bare, top=0)
    with pytest.raises(NotFound):
        gov.explanations.recompute("dec_nope")
    assert explained(gov) == []


def test_a_linear_model_is_explained_against_its_versions_background(
    gov: Tether, tmp_path: Path
) -> None:
    scaled = X / X.std(axis=0)
    linear = LogisticRegression(max_iter=1_000).fit(scaled, Y)
    v = register(gov, tmp_path, linear, background=scaled[:100])
    row = dict(zip(FEATURES, scaled[500].tolist(), strict=True))
    e = gov.explanations.explain(decide(gov, v, row, model=linear))
    assert e.explainer == "LinearExplainer"
    assert abs(e.output_value - linear.decision_function(scaled[500:501])[0]) < 1e-9
    assert abs(e.base_value + sum(a.attribution for a in e.attributions) - e.output_value) < 1e-9
    none = register(gov, tmp_path, LogisticRegression(C=0.5).fit(scaled, Y), background=None)
    with pytest.raises(InvalidInput, match="the version has none: register it with background="):
        gov.explanations.explain(decide(gov, none, row, model=linear))


def test_two_threads_explaining_one_decision_make_one_entry(gov: Tether, tmp_path: Path) -> None:
    v = register(gov, tmp_path)
    decision = decide(gov, v, DECLINED)
    start = threading.Barrier(2)
    got: list[bytes] = []

    def ask() -> None:
        start.wait()
        got.append(gov.explanations.explain(decision).to_json())

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 2
    assert got[0] == got[1]
    assert len(explained(gov)) == 1


def test_eager_explanations_happen_off_the_decision_path(gov: Tether, tmp_path: Path) -> None:
    v = register(gov, tmp_path)
    gov.explanations.eager(["loan-model"], top=3)
    rng = np.random.default_rng(5)
    rows = [dict(zip(FEATURES, r.tolist(), strict=True)) for r in X[rng.choice(600, 4)]]
    ids = [decide(gov, v, row) for row in rows]
    bare = decide(gov, None, DECLINED)  # no model context: skipped, not a failure
    assert gov.explanations.flush(timeout=60)
    assert (gov.explanations.failed, gov.explanations.dropped) == (0, 0)
    subjects = [e.subject for e in explained(gov)]
    assert sorted(subjects) == sorted(f"decision/{d}" for d in ids)
    assert gov.explanations.get(bare) is None
    for d in ids:
        e = gov.explanations.get(d)
        assert e is not None
        assert len(e.top) == 3
        assert gov.explanations.recompute(d).to_json() == e.to_json()
    gov.explanations.close()
    later = decide(gov, v, DECLINED)  # stopped: explained on request only
    assert gov.explanations.get(later) is None
    assert gov.explanations.explain(later) is not None


def test_eager_explanations_wait_for_decisions_recorded_asynchronously(
    make_tether: Callable[..., Tether], tmp_path: Path
) -> None:
    t = make_tether(durability="async")
    t.actors.register("svc:scoring", kind="service", roles=["scoring"], actor="admin")
    t.policies.publish(Policy.from_text(POLICY, "explain.yaml"), actor="admin")
    v = register(t, tmp_path)
    t.explanations.eager()
    ids = [decide(t, v, dict(DECLINED, income=float(i * 10_000))) for i in range(1, 4)]
    assert t.explanations.flush(timeout=60)
    assert t.explanations.failed == 0
    assert all(t.explanations.get(d) is not None for d in ids)


def decide_proba(t: Tether, v: ModelVersion, row: dict[str, Any], model: Any) -> str:
    context = {"model": {"version": v.version, "digest": v.digest}}
    x = np.array([[row[f] for f in FEATURES]])
    d = t.pipeline.execute(lambda: float(model.predict_proba(x)[0, 1]), (), {},
                           system="loan-model", action="predict_proba", actor="svc:scoring",
                           inputs=row, context=context)  # fmt: skip
    return d.id


def test_an_explanation_must_reproduce_the_recorded_output(gov: Tether, tmp_path: Path) -> None:
    # review finding: explain() trusted the caller-written context.model
    other = GradientBoostingClassifier(n_estimators=5, max_depth=1, random_state=1).fit(X, 1 - Y)
    v1, v2 = register(gov, tmp_path), register(gov, tmp_path, other)
    # made by v2, but its context names v1
    lying = decide_proba(gov, v1, DECLINED, other)
    with pytest.raises(InvalidInput, match="did not make this decision"):
        gov.explanations.explain(lying)
    assert gov.explanations.get(lying) is None
    assert not any(e.kind == EXPLAINED for e in gov.ledger.iter_entries())
    # the margin (log-odds) of the version that did make it matches via the logistic
    honest = decide_proba(gov, v2, DECLINED, other)
    e = gov.explanations.explain(honest)
    assert e.output == "margin"
    proba = float(other.predict_proba(np.array([[DECLINED[f] for f in FEATURES]]))[0, 1])
    assert 1 / (1 + np.exp(-e.output_value)) == pytest.approx(proba, rel=1e-6)
    # v1's own decision under predict_proba is explained as before
    assert gov.explanations.explain(decide_proba(gov, v1, DECLINED, GBM)).output == "margin"


def test_a_regressor_explanation_must_reproduce_the_recorded_prediction(
    gov: Tether, tmp_path: Path
) -> None:
    from sklearn.tree import DecisionTreeRegressor

    a = DecisionTreeRegressor(max_depth=2, random_state=0).fit(X, X[:, 1] * 2)
    b = DecisionTreeRegressor(max_depth=2, random_state=0).fit(X, X[:, 1] * -50)
    va, vb = register(gov, tmp_path, a), register(gov, tmp_path, b)
    x = np.array([[DECLINED[f] for f in FEATURES]])
    for served, named, ok in ((b, va, False), (b, vb, True)):
        d = gov.pipeline.execute(lambda m=served: float(m.predict(x)[0]), (), {},
                                 system="loan-model", action="predict", actor="svc:scoring",
                                 inputs=DECLINED,
                                 context={"model": {"version": named.version,
                                                    "digest": named.digest}})  # fmt: skip
        if ok:
            e = gov.explanations.explain(d.id)
            assert e.output_value == pytest.approx(float(b.predict(x)[0]), rel=1e-6)
        else:
            with pytest.raises(InvalidInput, match="did not make this decision"):
                gov.explanations.explain(d.id)
