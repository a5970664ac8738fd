"""GovernedModel: predictions through the pipeline, served by digest, hot-swapped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tether import ActionDenied, InvalidInput, Tether
from tether.adapters.sklearn import GovernedModel
from tether.policy import Policy

POLICY = """\
policy: serving
systems:
  scorer: {kind: model, owner: ml, risk_tier: limited}
actions:
  predict: {args: {income: number, age: number}}
  predict_proba: {args: {income: number, age: number}}
  set_alias:
    args: {alias: string, version: number, previous: number, kind: string, reason: string}
rules:
  - id: api-scores
    actions: [predict, predict_proba]
    when: '"api" in actor.roles'
    effect: allow
  - id: no-minors
    actions: [predict, predict_proba]
    when: action.args.age < 18.0
    effect: deny
    reason: minors are not scored
  - id: owners
    actions: [set_alias]
    when: '"owner" in actor.roles'
    effect: allow
"""

FEATURES = ["income", "age"]


def fit(path: Path, flip: bool) -> Path:
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(50, 10, 400), rng.uniform(18, 80, 400)])
    y = (X[:, 0] > 50).astype(int)
    joblib.dump(LogisticRegression().fit(X, 1 - y if flip else y), path)
    return path


@pytest.fixture
def served(make_tether: Callable[..., Tether], tmp_path: Path) -> Tether:
    t = make_tether()
    t.systems.register("scorer", kind="model", owner="ml", risk_tier="limited", actor="admin")
    t.actors.register("user:ana", kind="human", roles=["owner"], actor="admin")
    t.actors.register("svc:api", kind="service", roles=["api"], actor="admin")
    t.policies.publish(Policy.from_text(POLICY, "serving.yaml"), actor="admin")
    for n, flip in ((1, False), (2, True)):
        path = fit(tmp_path / f"v{n}.joblib", flip)
        t.models.register("scorer", path, actor="user:ana", features=FEATURES, code=None)
        t.models.promote("scorer", n, actor="user:ana", reason=f"v{n}")
    return t


def recorded(t: Tether, model: GovernedModel) -> list[tuple[int, dict[str, float], object]]:
    out = []
    for d in model.last_decisions:
        p = t.ledger.get(d.ledger_index).payload
        out.append((p["context"]["model"]["version"], p["inputs"], p["output"]))
    return out


def test_each_row_is_a_recorded_decision_of_the_served_version(served: Tether) -> None:
    model = GovernedModel(served, "scorer", actor="svc:api")
    X = np.array([[70.0, 30.0], [30.0, 40.0]])
    proba = model.predict_proba(X)
    bare = served.models.load("scorer", 2)
    np.testing.assert_array_equal(proba, bare.predict_proba(X))
    rows = recorded(served, model)
    assert [r[0] for r in rows] == [2, 2]
    assert rows[0][1] == {"income": 70.0, "age": 30.0}
    assert rows[0][2] == pytest.approx(proba[0, 1])
    assert model.predict(X).tolist() == bare.predict(X).tolist()
    assert list(model.classes_) == [0, 1]
    # a DataFrame keeps its column names
    frame = pd.DataFrame({"age": [30.0], "income": [70.0]})  # in another order
    assert model.predict_proba(frame)[0, 1] == pytest.approx(proba[0, 1])
    assert recorded(served, model)[0][1] == {"income": 70.0, "age": 30.0}
    with pytest.raises(InvalidInput, match=r"lacks the version's features \['age'\]"):
        model.predict(pd.DataFrame({"income": [70.0]}))


def test_a_row_policy_denies_raises_after_the_rows_before_it(served: Tether) -> None:
    model = GovernedModel(served, "scorer", actor="svc:api")
    with pytest.raises(ActionDenied, match="minors are not scored"):
        model.predict(np.array([[70.0, 30.0], [60.0, 16.0], [50.0, 50.0]]))
    outcomes = [e.payload["outcome"] for e in served.ledger.iter_entries() if e.kind == "decision"
                and e.payload["action"] == "predict"]  # fmt: skip
    assert outcomes == ["executed", "denied"]


def test_bad_shapes_are_clear_errors(served: Tether) -> None:
    model = GovernedModel(served, "scorer", actor="svc:api")
    with pytest.raises(InvalidInput, match="X has 3 columns but the version names 2 features"):
        model.predict(np.ones((1, 3)))
    with pytest.raises(InvalidInput, match="2-D"):
        model.predict(np.ones((1, 2, 2)))
    with pytest.raises(InvalidInput, match="register it"):
        model.fit(np.ones((2, 2)), [0, 1])


def test_a_move_elsewhere_shows_after_the_refresh(
    served: Tether, make_tether: Callable[..., Tether]
) -> None:
    other = make_tether()  # another process's view of the same store
    model = GovernedModel(served, "scorer", actor="svc:api", refresh=3600)
    model.predict(np.array([[70.0, 30.0]]))
    other.models.rollback("scorer", actor="user:ana", reason="v2 is upside down")
    model.predict(np.array([[70.0, 30.0]]))
    assert recorded(served, model)[0][0] == 2  # not looked up again yet
    model.refresh = 0
    model.predict(np.array([[70.0, 30.0]]))
    assert recorded(served, model)[0][0] == 1


def test_hot_swap_under_load_drops_no_request(served: Tether) -> None:
    model = GovernedModel(served, "scorer", actor="svc:api", refresh=3600)
    X = np.array([[70.0, 30.0]])
    expected = {v: served.models.load("scorer", v).predict_proba(X)[0, 1] for v in (1, 2)}
    seen: list[float] = []
    errors: list[BaseException] = []
    start = threading.Barrier(5)
    lock = threading.Lock()

    def call() -> None:
        start.wait()
        for _ in range(25):
            try:
                p = float(model.predict_proba(X)[0, 1])
            except BaseException as exc:  # the assertion below names it
                errors.append(exc)
                continue
            with lock:
                seen.append(p)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for th in threads:
        th.start()
    start.wait()
    served.models.rollback("scorer", actor="user:ana", reason="swap under load")
    for th in threads:
        th.join()
    assert errors == []
    assert len(seen) == 100
    # every answer is one version's answer, and after the swap version 1 serves
    assert {round(p, 12) for p in seen} <= {round(float(v), 12) for v in expected.values()}
    model.predict_proba(X)
    assert recorded(served, model)[0][0] == 1


def test_the_model_runs_only_on_rows_the_pipeline_allowed(served: Tether) -> None:
    model = GovernedModel(served, "scorer", actor="svc:api")
    inner = served.models.load("scorer", 2)
    calls: list[int] = []
    original = inner.predict_proba

    def counting(X: object) -> object:
        calls.append(len(X))  # type: ignore[arg-type]
        return original(X)

    inner.predict_proba = counting
    try:
        served.breakers.trip("system:scorer", actor="user:ana", reason="kill switch")
        with pytest.raises(ActionDenied):
            model.predict_proba(np.array([[70.0, 30.0], [30.0, 40.0]]))
        assert calls == []  # stopped before the model saw anything
        served.breakers.reset("system:scorer", actor="user:ana", reason="fixed")
        with pytest.raises(ActionDenied, match="minors"):
            model.predict_proba(np.array([[70.0, 30.0], [60.0, 16.0]]))
        assert calls == [1]  # the allowed first row only
    finally:
        del inner.predict_proba
