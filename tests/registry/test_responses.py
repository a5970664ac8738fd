"""The closed loop: signals fire the policy's responses (rollback, review mode,
breakers, retraining), once per cool-down, each recorded in order in the ledger."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from tether import ActionDenied, ApprovalRequired, NotFound, Tether
from tether.adapters.sklearn import GovernedModel
from tether.errors import PolicyError, VerificationError
from tether.ledger import verify_ledger
from tether.monitoring import Baseline, Signal
from tether.policy import Policy
from tether.registry import REVIEW_RULE

POLICY = """\
policy: closed-loop
systems:
  loan-model: {kind: model, owner: credit-risk, risk_tier: high}
actions:
  predict: {args: {income: number, debt_ratio: number, age: number}}
  predict_proba: {args: {income: number, debt_ratio: number, age: number}}
  set_alias:
    args: {alias: string, version: number, previous: number, kind: string, reason: string}
  set_gates:
    args: {digest: string, reason: string}
rules:
  - id: serve
    actions: [predict, predict_proba]
    when: '"loan-api" in actor.roles'
    effect: allow
  - id: owners-move-aliases
    actions: [set_alias]
    when: '"model_owner" in actor.roles'
    effect: allow
  - id: owners-set-gates
    actions: [set_gates]
    when: '"model_owner" in actor.roles'
    effect: allow
  - id: responder-rolls-back-and-proposes
    actions: [set_alias]
    when: >-
      "responder" in actor.roles && (action.args.kind == "rollback"
      || action.args.alias == "challenger")
    effect: allow
responses:
  - id: drift-rolls-back
    signal: drift
    min_severity: high
    do: rollback
    cooldown: 1h
    actor: svc:responder
  - id: unfair-goes-to-review
    signal: fairness
    min_severity: medium
    do: review
    approvers: {roles: [credit_officer]}
    actor: svc:responder
  - id: failing-model-alerts
    signal: breaker
    do: alert
    actor: svc:responder
"""

FEATURES = ["income", "debt_ratio", "age"]


def training(n: int, seed: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "income": rng.normal(50 + shift, 10, n),
        "debt_ratio": rng.uniform(0, 1, n),
        "age": rng.integers(18, 80, n).astype(float),
    }


def matrix(data: dict[str, np.ndarray]) -> np.ndarray:
    return np.column_stack([data[f] for f in FEATURES])


def fit(seed: int, path: Path) -> Path:
    data = training(600, seed)
    y = (data["income"] / 100 - data["debt_ratio"] > 0.0).astype(int)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=seed)
    joblib.dump(model.fit(matrix(data), y), path)
    return path


def loop(t: Tether, tmp_path: Path, policy: str = POLICY) -> Tether:
    t.systems.register("loan-model", kind="model", owner="credit-risk", risk_tier="high",
                       actor="admin")  # fmt: skip
    a = t.actors.register
    a("user:ana", kind="human", roles=["model_owner", "credit-risk"], actor="admin")
    a("user:max", kind="human", roles=["model_owner"], actor="admin")  # owns other systems
    a("user:cat", kind="human", roles=["credit_officer"], actor="admin")
    a("user:eve", kind="human", roles=["analyst"], actor="admin")
    a("svc:loan-api", kind="service", roles=["loan-api"], actor="admin")
    a("svc:responder", kind="service", roles=["responder"], actor="admin")
    t.policies.publish(Policy.from_text(policy, "loop.yaml"), actor="admin")
    for seed in (1, 2):
        t.models.register("loan-model", fit(seed, tmp_path / f"v{seed}.joblib"),
                          actor="user:ana", features=FEATURES, code=None)  # fmt: skip
        t.models.promote("loan-model", seed, actor="user:ana", reason=f"release {seed}")
    return t


@pytest.fixture
def gov(make_tether: Callable[..., Tether], tmp_path: Path) -> Tether:
    return loop(make_tether(), tmp_path)


def served_versions(t: Tether, decisions: list[Any]) -> set[int]:
    return {t.ledger.get(d.ledger_index).payload["context"]["model"]["version"] for d in decisions}


def test_drift_rolls_back_and_the_next_predictions_come_from_the_previous_version(
    gov: Tether,
) -> None:
    base = Baseline.build(training(5000, 7), window_size=200)
    gov.monitor.set_baseline("loan-model", base, actor="user:ana", action="predict")
    model = GovernedModel(gov, "loan-model", actor="svc:loan-api", refresh=3600)
    # drifted traffic: incomes moved far up
    model.predict(matrix(training(200, 8, shift=40)))
    assert served_versions(gov, model.last_decisions) == {2}

    report = gov.monitor.check("loan-model")
    assert any(s.kind == "drift" and s.severity == "high" for s in report.signals)
    # the response rolled champion back; the next predictions are served by version 1
    assert gov.models.resolve("loan-model").version == 1
    model.predict(matrix(training(5, 9)))
    assert served_versions(gov, model.last_decisions) == {1}

    # the ledger: signal -> response -> alias move -> result, in that order
    loop_kinds = ("signal.raised", "response.fired", "alias.moved", "response.result")
    kinds = [(e.index, e.kind) for e in gov.ledger.iter_entries() if e.kind in loop_kinds]
    first_signal = next(i for i, k in kinds if k == "signal.raised")
    fired = [i for i, k in kinds if k == "response.fired"]
    assert len(fired) == 1
    assert fired[0] > first_signal
    rollback = gov.models.history("loan-model")[-1]
    assert (rollback.kind, rollback.previous, rollback.version) == ("rollback", 2, 1)
    assert rollback.ledger_index > fired[0]
    assert rollback.evidence is not None
    assert rollback.evidence["response_entry"] == fired[0]
    result = next(e for e in gov.ledger.iter_entries() if e.kind == "response.result")
    assert result.index > rollback.ledger_index
    assert result.payload["status"] == "done"
    assert verify_ledger(gov.store, gov.ledger.verifier).ok

    # a second drift signal within the cool-down does not roll back again
    again = Signal("drift", "loan-model", "high", "psi", 3.0, 0.1, feature="age")
    assert gov.signals.emit(again) is not None
    assert [r.status for r in gov.responses.fired("loan-model")][-1] == "cooling_down"
    assert gov.models.resolve("loan-model").version == 1
    assert [m.kind for m in gov.models.history("loan-model")].count("rollback") == 1
    assert sum(e.kind == "response.fired" for e in gov.ledger.iter_entries()) == 1


def test_after_the_cool_down_a_new_signal_fires_again(gov: Tether, clock: Any) -> None:
    first = Signal("drift", "loan-model", "high", "psi", 3.0, 0.1, feature="income")
    gov.signals.emit(first)
    assert gov.models.resolve("loan-model").version == 1
    clock.advance(minutes=61)
    gov.models.promote("loan-model", 2, actor="user:ana", reason="fixed the pipeline")
    gov.signals.emit(Signal("drift", "loan-model", "high", "psi", 3.0, 0.1, feature="debt_ratio"))
    # version 2 was rolled back from once: there is still version 1 to go back to
    assert gov.models.resolve("loan-model").version == 1
    assert [r.status for r in gov.responses.fired("loan-model")] == ["done", "done"]


def test_a_signal_below_the_response_severity_or_of_another_kind_does_nothing(
    gov: Tether,
) -> None:
    gov.signals.emit(Signal("drift", "loan-model", "medium", "psi", 0.2, 0.1, feature="income"))
    gov.signals.emit(Signal("anomaly", "loan-model", "high", "rate", 0.2, 0.01))
    assert gov.models.resolve("loan-model").version == 2
    assert gov.responses.fired() == []


def test_the_same_signal_handled_twice_fires_once(gov: Tether) -> None:
    s = Signal("drift", "loan-model", "high", "psi", 3.0, 0.1, feature="income")
    index = gov.signals.emit(s)
    assert index is not None
    again = gov.responses.on_signal(s, index)
    assert [r.status for r in again] == ["cooling_down"]
    assert gov.models.resolve("loan-model").version == 1


def test_a_failing_response_is_recorded_not_lost(gov: Tether) -> None:
    gov.actors.deactivate("svc:responder", actor="admin", reason="rotated")
    gov.signals.emit(Signal("drift", "loan-model", "high", "psi", 3.0, 0.1, feature="income"))
    (result,) = gov.responses.fired("loan-model")
    assert result.status == "failed"
    assert "inactive" in result.detail or "deactivated" in result.detail
    entry = next(e for e in gov.ledger.iter_entries() if e.kind == "response.result")
    assert entry.payload["status"] == "failed"
    assert gov.models.resolve("loan-model").version == 2


def test_fairness_breach_puts_every_decision_in_review_until_an_owner_clears_it(
    gov: Tether,
) -> None:
    inputs = {"income": 40.0, "debt_ratio": 0.5, "age": 30.0}
    assert gov.decide("loan-model", "predict", actor="svc:loan-api", inputs=inputs).allowed
    gov.signals.emit(Signal("fairness", "loan-model", "high", "impact_ratio", 0.55, 0.8,
                            feature="region=south"))  # fmt: skip
    mode = gov.review.mode("loan-model")
    assert mode is not None
    assert mode.approvers == ("credit_officer",)
    model = GovernedModel(gov, "loan-model", actor="svc:loan-api")
    for _ in range(3):  # every decision waits, each with its own approval
        d = gov.decide("loan-model", "predict", actor="svc:loan-api", inputs=inputs)
        assert (d.outcome, d.rules) == ("pending_approval", (REVIEW_RULE,))
        assert d.approval_id is not None
    with pytest.raises(ApprovalRequired) as waiting:
        model.predict(np.array([[40.0, 0.5, 30.0]]))
    # a credit officer approves that one: it runs, once
    gov.approvals.approve(waiting.value.approval_id, approver="user:cat", comment="looked at it")
    approved = gov.decide("loan-model", "predict", actor="svc:loan-api", inputs=inputs,
                          context={"model": {"alias": "champion", "version": 2,
                                             "digest": gov.models.get("loan-model", 2).digest}},
                          approval_id=waiting.value.approval_id)  # fmt: skip
    assert approved.allowed
    # alias moves are not held up by the mode (a rollback must stay possible)
    gov.models.rollback("loan-model", actor="user:ana", reason="safer version meanwhile")
    # only an owner clears it: not an analyst, not the responder service
    with pytest.raises(ActionDenied, match="may not clear review mode"):
        gov.review.clear("loan-model", actor="user:eve", reason="looks fine to me")
    with pytest.raises(ActionDenied, match="may not clear review mode"):
        gov.review.clear("loan-model", actor="svc:responder", reason="auto")
    with pytest.raises(ActionDenied, match="may not clear review mode"):  # not this system's
        gov.review.clear("loan-model", actor="user:max", reason="owner elsewhere")
    gov.review.clear("loan-model", actor="user:ana", reason="retrained, impact ratio 0.91")
    assert gov.decide("loan-model", "predict", actor="svc:loan-api", inputs=inputs).allowed
    with pytest.raises(NotFound, match="not in human-review mode"):
        gov.review.clear("loan-model", actor="user:ana", reason="again")
    kinds = [e.kind for e in gov.ledger.iter_entries()]
    assert kinds.index("review.entered") < kinds.index("review.cleared")
    assert verify_ledger(gov.store, gov.ledger.verifier).ok


def test_review_mode_is_seen_by_another_process(make_tether: Callable[..., Tether],
                                                gov: Tether) -> None:  # fmt: skip
    other = make_tether()
    gov.review.enter("loan-model", approvers=["credit_officer"], actor="user:ana",
                     reason="manual check")  # fmt: skip
    other.review.modes(fresh=True)
    d = other.decide("loan-model", "predict", actor="svc:loan-api", inputs={"income": 1.0})
    assert d.outcome == "pending_approval"


def test_an_automatic_breaker_trip_fires_its_response(gov: Tether) -> None:
    gov.breakers.failures = 2

    def broken() -> None:
        raise RuntimeError("feature store down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            gov.pipeline.execute(broken, (), {}, system="loan-model", action="predict",
                                 actor="svc:loan-api", inputs={"income": 1.0})  # fmt: skip
    gov.responses.wait()
    results = gov.responses.fired("loan-model")
    assert [(r.response, r.status) for r in results] == [("failing-model-alerts", "done")]
    fired = next(e for e in gov.ledger.iter_entries() if e.kind == "response.fired")
    assert fired.payload["trigger"]["feature"] == "action:loan-model/predict"


def retrain_model(
    t: Tether, system: str, evidence: dict[str, Any]
) -> tuple[Path, dict[str, float]]:
    """A retraining callable (as a policy names it: module:function)."""
    path = Path(t.settings.home) / "retrained.joblib"
    return fit(3, path), {"auc": 0.91}


RETRAIN = """
  - id: drift-retrains
    signal: drift
    min_severity: low
    do: retrain
    actor: svc:responder
    retrain: {callable: "tests.registry.test_responses:retrain_model"}
  - id: drift-retrains-by-command
    signal: quality
    do: retrain
    actor: svc:responder
    retrain: {command: "%s %s"}
"""

COMMAND = """\
import os, joblib
from sklearn.linear_model import LogisticRegression
import numpy as np
X = np.random.default_rng(0).normal(size=(100, 3)); y = (X[:, 0] > 0).astype(int)
joblib.dump(LogisticRegression().fit(X, y), os.environ["TETHER_OUTPUT"])
open(os.environ["TETHER_METRICS"], "w").write('{"auc": 0.6}')
"""


def test_retraining_registers_a_candidate_that_is_not_promoted(
    make_tether: Callable[..., Tether], tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(COMMAND)
    policy = POLICY.replace("responses:\n", "responses:" + RETRAIN % (sys.executable, script))
    t = loop(make_tether(), tmp_path, policy)
    t.gates.set("loan-model", {"metrics": [{"metric": "auc", "min": 0.8}],
                               "signoff": {"required": "never"}},
                actor="user:ana", reason="candidates need auc 0.8")  # fmt: skip
    t.signals.emit(Signal("drift", "loan-model", "low", "psi", 0.2, 0.1, feature="income"))
    t.signals.emit(Signal("quality", "loan-model", "medium", "missing", 0.3, 0.05))
    t.responses.wait()
    versions = t.models.list("loan-model")
    assert len(versions) == 4
    assert {v.parent for v in versions[2:]} == {2}
    assert t.models.resolve("loan-model").version == 2  # the champion did not move
    assert t.models.resolve("loan-model", "challenger").version in (3, 4)
    results = [e.payload for e in t.ledger.iter_entries() if e.kind == "response.result"]
    assert sorted(r["status"] for r in results) == ["done", "done"]
    # each candidate was judged by the gates with the metrics its retraining reported
    verdicts = {v.metrics["auc"]: t.gates.report("loan-model", v.version) for v in versions[2:]}
    assert {auc: r is not None and r.passed for auc, r in verdicts.items()} == {
        0.91: True, 0.6: False
    }  # fmt: skip
    assert t.models.load("loan-model", 3) is not None


def test_a_tampered_model_file_is_refused_at_load(gov: Tether, tmp_path: Path) -> None:
    path = tmp_path / "v1.joblib"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="refusing to load"):
        gov.models.load("loan-model", 1)
    gov.models.rollback("loan-model", actor="user:ana", reason="try the old one")
    with pytest.raises(VerificationError):
        GovernedModel(gov, "loan-model", actor="svc:loan-api").predict([[1.0, 0.1, 30.0]])


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("  - {id: r, signal: drift, do: review}\n", "do: review needs approvers"),
        ("  - {id: r, signal: drift, do: retrain}\n", "needs a retrain section"),
        ("  - {id: r, signal: weather, do: alert}\n", "signal"),
        ("  - {id: r, signal: drift, do: alert, systems: [nope]}\n", "undeclared systems"),
        ("  - {id: r, signal: drift, do: alert}\n  - {id: r, signal: drift, do: alert}\n",
         "used twice"),
    ],
)  # fmt: skip
def test_bad_responses_are_policy_errors(snippet: str, message: str) -> None:
    text = POLICY.split("responses:\n")[0] + "responses:\n" + snippet
    with pytest.raises(PolicyError, match=message):
        Policy.from_text(text, "loop.yaml")


def test_a_fairness_breach_found_by_monitoring_puts_the_system_in_review(gov: Tether) -> None:
    """Labelled traffic where one region is approved far less: the monitor's fairness
    check raises the signal, the policy's response puts the system in review mode."""
    rng = np.random.default_rng(3)
    labels = []
    for i in range(200):
        region = "south" if i % 2 else "north"
        selected = rng.uniform() < (0.2 if region == "south" else 0.7)
        score = float(0.6 + 0.3 * rng.uniform()) if selected else float(0.4 * rng.uniform())
        d = gov.pipeline.execute(lambda s=score: s, (), {}, system="loan-model",
                                 action="predict", actor="svc:loan-api",
                                 inputs={"income": 50.0}, context={"region": region})  # fmt: skip
        labels.append((d.id, int(selected)))
    gov.feedback.add_many(labels, actor="svc:labels")
    report = gov.monitor.fairness("loan-model", sensitive=["context.region"])
    assert min(g.impact_ratio for g in report.groups if g.impact_ratio is not None) < 0.8
    mode = gov.review.mode("loan-model", fresh=True)
    assert mode is not None
    assert "fairness" in mode.reason
    d = gov.decide("loan-model", "predict", actor="svc:loan-api", inputs={"income": 50.0})
    assert (d.outcome, d.rules) == ("pending_approval", (REVIEW_RULE,))
    kinds = [e.kind for e in gov.ledger.iter_entries()]
    assert kinds.index("signal.raised") < kinds.index("response.fired")
    assert kinds.index("response.fired") < kinds.index("review.entered")


def test_review_mode_adds_to_approvals_counts_people_and_holds_promotions(gov: Tether) -> None:
    gov.actors.register("user:dee", kind="human", roles=["credit_officer"], actor="admin")
    gov.review.enter("loan-model", approvers=["credit_officer"], count=2, actor="user:ana",
                     reason="two officers per decision")  # fmt: skip
    inputs = {"income": 40.0, "debt_ratio": 0.5, "age": 30.0}
    d = gov.decide("loan-model", "predict", actor="svc:loan-api", inputs=inputs)
    approval = gov.approvals.get(d.approval_id or "")
    gov.approvals.approve(approval.id, approver="user:cat", comment="one")
    assert gov.approvals.get(approval.id).state == "pending"  # one of two people
    gov.approvals.approve(approval.id, approver="user:dee", comment="two")
    assert gov.approvals.get(approval.id).state == "approved"
    # a promotion waits for the reviewers too; a rollback does not
    with pytest.raises(ApprovalRequired):
        gov.models.promote("loan-model", 1, actor="user:ana", reason="during review")
    back = gov.models.rollback("loan-model", actor="user:ana", reason="safer meanwhile")
    assert back.version == 1


def test_review_mode_adds_its_reviewers_to_an_approval_policy_asks_for(
    make_tether: Callable[..., Tether], tmp_path: Path
) -> None:
    policy = POLICY.replace(
        "responses:\n",
        "  - id: big-incomes-need-a-lead\n    actions: [predict]\n"
        "    when: action.args.income > 100.0\n    effect: require_approval\n"
        "    approvers: {roles: [team_lead]}\nresponses:\n",
    )
    t = loop(make_tether(), tmp_path, policy)
    t.actors.register("user:lee", kind="human", roles=["team_lead"], actor="admin")
    t.review.enter("loan-model", approvers=["credit_officer"], actor="user:ana", reason="audit")
    d = t.decide("loan-model", "predict", actor="svc:loan-api", inputs={"income": 500.0})
    assert d.rules == ("big-incomes-need-a-lead", REVIEW_RULE)
    t.approvals.approve(d.approval_id or "", approver="user:lee", comment="lead ok")
    assert t.approvals.get(d.approval_id or "").state == "pending"  # the reviewer still
    t.approvals.approve(d.approval_id or "", approver="user:cat", comment="officer ok")
    assert t.approvals.get(d.approval_id or "").state == "approved"


def broken_trainer(t: Tether, system: str, evidence: dict[str, Any]) -> Path:
    """A retraining callable that fails the way user code does."""
    raise ValueError("labels table is empty")


HANGS = """\
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(60)
"""


def test_a_failing_or_hanging_retraining_is_recorded_and_cleaned_up(
    make_tether: Callable[..., Tether], tmp_path: Path
) -> None:
    script = tmp_path / "hang.py"
    script.write_text(HANGS)
    responses = (
        "  - id: broken\n    signal: drift\n    do: retrain\n    actor: svc:responder\n"
        '    retrain: {callable: "tests.registry.test_responses:broken_trainer"}\n'
        "  - id: hangs\n    signal: quality\n    do: retrain\n    actor: svc:responder\n"
        f'    retrain: {{command: "{sys.executable} {script} {tmp_path / "worker.pid"}", '
        "timeout: 2s}\n"
    )
    t = loop(make_tether(), tmp_path, POLICY.replace("responses:\n", "responses:\n" + responses))
    t.signals.emit(Signal("drift", "loan-model", "medium", "psi", 0.3, 0.1, feature="income"))
    t.signals.emit(Signal("quality", "loan-model", "medium", "missing", 0.3, 0.05))
    t.responses.wait()
    results = {
        e.payload["response"]: e.payload["detail"]
        for e in t.ledger.iter_entries()
        if e.kind == "response.result"
    }
    assert "ValueError: labels table is empty" in results["broken"]
    assert "timeout of 2 s" in results["hangs"]
    assert len(t.models.list("loan-model")) == 2  # nothing half-registered
    # the trainer's own worker went with it (its process group was killed)
    worker = int((tmp_path / "worker.pid").read_text())
    assert gone(worker)


def gone(pid: int) -> bool:
    """Whether a process has ended (polled: the kernel reaps it asynchronously)."""
    import os
    import time

    for _ in range(500):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            with open(f"/proc/{pid}/stat") as f:  # a zombie has ended, just not been reaped
                if f.read().split(") ")[-1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.01)
    return False
