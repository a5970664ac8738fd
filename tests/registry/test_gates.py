"""Model gates: versioned, hashed thresholds registered before the results they judge;
metric, fairness, drift and sign-off gates; promotion refused on a failing gate unless a
second person overrides it with a justification."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import inspect

from tether import (
    ActionDenied,
    ApprovalRequired,
    GateFailed,
    InvalidInput,
    NotFound,
    Tether,
    VerificationError,
)
from tether.ledger import verify_ledger
from tether.ledger._canonical import canonical_json
from tether.monitoring import Baseline
from tether.policy import Policy
from tether.registry import GateSpec
from tether.registry._gate_spec import load_spec
from tether.store.tables import gate_results, gate_sets

POLICY = """\
policy: gates-test
systems:
  loan-model: {kind: model, owner: credit, risk_tier: high}
  scorer: {kind: model, owner: growth, risk_tier: limited}
  ghost: {kind: model, owner: nobody, risk_tier: high}
actions:
  predict: {}
  set_alias:
    args: {alias: string, version: number, previous: number, kind: string, reason: string}
  set_gates:
    args: {digest: string, reason: string}
rules:
  - id: owners-move-aliases
    actions: [set_alias]
    when: '"model_owner" in actor.roles'
    effect: allow
  - id: owners-set-gates
    actions: [set_gates]
    when: '"model_owner" in actor.roles'
    effect: allow
  - id: serve
    actions: [predict]
    when: '"loan-api" in actor.roles'
    effect: allow
"""

AUC_MIN = {"metrics": [{"metric": "auc", "min": 0.8}]}
NO_SIGNOFF = {"signoff": {"required": "never"}}


def governed(t: Tether, policy: str = POLICY) -> Tether:
    a = t.actors.register
    a("user:ana", kind="human", roles=["model_owner"], actor="admin")
    a("user:bo", kind="human", roles=["model_approver"], actor="admin")
    a("user:cy", kind="human", roles=["admin", "model_owner"], actor="admin")
    a("user:dan", kind="human", roles=["analyst"], actor="admin")
    a("svc:ci", kind="service", roles=["model_approver"], actor="admin")
    a("svc:api", kind="service", roles=["loan-api"], actor="admin")
    t.policies.publish(Policy.from_text(policy, "gates.yaml"), actor="admin")
    return t


@pytest.fixture
def gov(make_tether: Callable[..., Tether]) -> Tether:
    return governed(make_tether())


def register(t: Tether, system: str, tag: str, **metrics: float) -> int:
    return t.models.register(system, f"{system} {tag}".encode(), uri=f"mem://{system}/{tag}",
                             actor="user:ana", metrics=metrics, code=None).version  # fmt: skip


def ledger_ok(t: Tether) -> None:
    assert verify_ledger(t.store, t.ledger.verifier).ok


# -- gate sets -------------------------------------------------------------------------------


def test_gate_versions_increment_on_change_and_not_on_the_same_spec(gov: Tether) -> None:
    first = gov.gates.set("scorer", AUC_MIN, actor="user:ana", reason="launch criteria")
    assert (first.version, first.spec.aliases, first.spec.override_roles) == (
        1, ["champion"], ["model_approver", "admin"],
    )  # fmt: skip
    # the digest is the SHA-256 of the RFC 8785 form, defaults written out
    canonical = canonical_json(GateSpec.model_validate(AUC_MIN).model_dump(mode="json"))
    assert first.digest == hashlib.sha256(canonical).hexdigest()
    entry = gov.ledger.get(first.ledger_index)
    assert (entry.kind, entry.payload["digest"], entry.payload["version"]) == (
        "gates.set", first.digest, 1,
    )  # fmt: skip
    # the same gates, spelt differently (defaults explicit, an int threshold): no new version
    same = {"aliases": ["champion"], "metrics": [{"metric": "auc", "min": 0.8}],
            "signoff": {"required": "high_risk"}}  # fmt: skip
    size = gov.ledger.size
    again = gov.gates.set("scorer", same, actor="user:cy", reason="again")
    assert again == first
    assert gov.ledger.size == size
    # a changed threshold is a new version; going back is another one (same digest)
    second = gov.gates.set("scorer", {"metrics": [{"metric": "auc", "min": 0.82}]},
                           actor="user:ana", reason="stricter")  # fmt: skip
    third = gov.gates.set("scorer", AUC_MIN, actor="user:ana", reason="back")
    assert (second.version, third.version) == (2, 3)
    assert second.digest != first.digest
    assert third.digest == first.digest
    assert [g.version for g in gov.gates.history("scorer")] == [1, 2, 3]
    assert gov.gates.get("scorer") == third
    assert gov.gates.get("scorer", 2) == second
    assert gov.ledger.get(second.ledger_index).payload["previous"] == first.digest
    with pytest.raises(NotFound, match="has no gate set version 9"):
        gov.gates.get("scorer", 9)
    with pytest.raises(NotFound, match="has no gate set"):
        gov.gates.get("nothing-here")
    ledger_ok(gov)


def test_setting_gates_is_a_governed_action_of_a_person(gov: Tether) -> None:
    # review finding: anyone, even an unregistered agent, could replace the gate set
    gov.actors.register("agent:bot", kind="agent", roles=["model_owner"], actor="admin")
    first = gov.gates.set("scorer", AUC_MIN, actor="user:ana", reason="launch criteria")
    decision = [e for e in gov.ledger.iter_entries() if e.kind == "decision"][-1]
    assert (decision.actor, decision.payload["action"], decision.payload["outcome"]) == (
        "user:ana", "set_gates", "allowed",
    )  # fmt: skip
    relaxed = {"metrics": [{"metric": "auc", "min": 0.0}], "aliases": ["shadow"]}
    for who in ("agent:nobody", "agent:bot", "svc:ci"):
        with pytest.raises(InvalidInput, match="only a registered, active person"):
            gov.gates.set("scorer", relaxed, actor=who, reason="relax")
    # a person the policy does not allow: denied (and the denial recorded)
    with pytest.raises(ActionDenied):
        gov.gates.set("scorer", relaxed, actor="user:bo", reason="relax")
    assert gov.gates.current("scorer") == first
    denied = [e for e in gov.ledger.iter_entries() if e.kind == "decision"][-1]
    assert (denied.actor, denied.payload["outcome"]) == ("user:bo", "denied")
    # default deny: a policy that does not declare set_gates lets no one set gates
    gov.policies.publish(Policy.from_text(POLICY.replace("set_gates", "set_other")), actor="admin")
    with pytest.raises(ActionDenied):
        gov.gates.set("loan-model", AUC_MIN, actor="user:ana", reason="launch criteria")
    assert gov.gates.current("loan-model") is None
    ledger_ok(gov)


def test_concurrent_setters_take_consecutive_versions(gov: Tether) -> None:
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def setter(i: int) -> None:
        barrier.wait()
        try:
            gov.gates.set("scorer", {"metrics": [{"metric": "auc", "min": 0.5 + i / 100}]},
                          actor="user:ana", reason=f"writer {i}")  # fmt: skip
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=setter, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert [g.version for g in gov.gates.history("scorer")] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"metrics": [{"metric": "auc", "mn": 0.7}]},
         "metrics[0]: unknown key 'mn' (did you mean 'min'?)"),
        ({"fairnes": {"min_impact_ratio": 0.8}},
         "unknown key 'fairnes' (did you mean 'fairness'?)"),
        ({"metrics": [{"metric": "auc"}]}, "give min, max, max_drop or max_rise"),
        ({"metrics": [{"min": 0.7}]}, "metrics[0]: missing required key 'metric'"),
        ({"metrics": [{"metric": "auc", "min": "0.7"}]},
         "metrics[0].min: Input should be a valid number (got '0.7')"),
        ({"metrics": [{"metric": "auc", "min": 0.9, "max": 0.8}]}, "min 0.9 is above max 0.8"),
        ({"metrics": [{"metric": "auc", "min": 0.7, "baseline": "champion"}]},
         "baseline only applies to max_drop or max_rise"),
        ({"metrics": [{"metric": "auc", "min": 0.7}, {"metric": "auc", "min": 0.8}]},
         "auc min is already set by metrics[0]"),
        ({"fairness": {"min_impact_ratio": 1.5}},
         "fairness.min_impact_ratio: Input should be less than or equal to 1 (got 1.5)"),
        ({"fairness": {"min_group": 30}}, "give min_impact_ratio"),
        ({"drift": {"fail_at": "severe"}},
         "drift.fail_at: Input should be 'low', 'medium' or 'high' (got 'severe')"),
        ({"signoff": {"required": "never"}}, "the gate set checks nothing"),
        ({"aliases": []}, "aliases: List should have at least 1 item"),
        (["auc"], "a gate spec is a mapping"),
    ],
)  # fmt: skip
def test_a_bad_spec_names_the_key_and_the_fix(gov: Tether, spec: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        gov.gates.set("scorer", spec, actor="user:ana", reason="try")
    assert message in str(info.value)
    assert gov.gates.current("scorer") is None


def test_specs_load_from_yaml_and_json_files(gov: Tether, tmp_path: Path) -> None:
    good = tmp_path / "gates.yaml"
    good.write_text("metrics:\n  - {metric: auc, min: 0.8}\n", encoding="utf-8")
    as_json = tmp_path / "gates.json"
    as_json.write_text('{"metrics": [{"metric": "auc", "min": 0.8}]}', encoding="utf-8")
    assert load_spec(good) == load_spec(as_json) == GateSpec.model_validate(AUC_MIN)
    bad = tmp_path / "bad.yaml"
    bad.write_text("drift:\n  fail_at: medium\n  lst: 100\n", encoding="utf-8")
    with pytest.raises(
        InvalidInput, match=r"bad.yaml: drift: unknown key 'lst' \(did you mean 'last'"
    ):
        load_spec(bad)
    with pytest.raises(InvalidInput, match="cannot read the gate spec"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(InvalidInput, match="needs a reason"):
        gov.gates.set("scorer", AUC_MIN, actor="user:ana", reason=" ")
    with pytest.raises(InvalidInput, match="alias 'bad alias' is not a valid name"):
        gov.gates.set("scorer", {**AUC_MIN, "aliases": ["bad alias"]}, actor="user:ana", reason="x")


# -- thresholds before results ----------------------------------------------------------------


def test_registered_metrics_older_than_the_gates_are_refused(gov: Tether) -> None:
    early = register(gov, "scorer", "early", auc=0.9)
    gates = gov.gates.set("scorer", AUC_MIN, actor="user:ana", reason="launch criteria")
    late = register(gov, "scorer", "late", auc=0.9)
    assert gov.models.get("scorer", early).ledger_index < gates.ledger_index
    with pytest.raises(InvalidInput, match="before the gate set") as info:
        gov.gates.run("scorer", early, actor="user:ana")
    assert "evaluate afresh" in str(info.value)
    assert gov.gates.report("scorer", early) is None  # nothing was recorded
    # registered after the gates: judged as registered
    report = gov.gates.run("scorer", late, actor="user:ana")
    assert report.passed
    assert report.results[0].source == "registered"
    # a fresh evaluation of the early version is recorded after the gates: judged
    fresh = gov.gates.run("scorer", early, actor="user:ana", metrics={"auc": 0.85})
    assert (fresh.passed, fresh.results[0].value, fresh.results[0].source) == (
        True, 0.85, "evaluation",
    )  # fmt: skip
    assert fresh.ledger_index > gates.ledger_index
    assert gov.ledger.get(fresh.ledger_index).payload["evaluation"]["metrics"] == {"auc": 0.85}
    # changing the thresholds makes every earlier result stale again
    gov.gates.set("scorer", {"metrics": [{"metric": "auc", "min": 0.85}]}, actor="user:ana",
                  reason="stricter")  # fmt: skip
    with pytest.raises(InvalidInput, match="before the gate set"):
        gov.gates.run("scorer", late, actor="user:ana")
    # promoting without a fresh evaluation: the refusal is a failing gate
    with pytest.raises(GateFailed, match=r"auc.min \(refused: ") as failed:
        gov.models.promote("scorer", late, actor="user:ana", reason="ship it")
    assert [r.name for r in failed.value.failing] == ["auc.min"]
    ledger_ok(gov)


def fit_model(tmp_path: Path, seed: int = 0) -> tuple[Path, dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 600
    data = {"income": rng.normal(50, 10, n), "debt": rng.uniform(0, 1, n)}
    y = (data["income"] - 50) / 10 - 2 * (data["debt"] - 0.5) + rng.normal(0, 0.5, n) > 0
    X = np.column_stack([data["income"], data["debt"]])
    path = tmp_path / f"model-{seed}.joblib"
    joblib.dump(LogisticRegression().fit(X, y.astype(int)), path)
    return path, data, y.astype(int)


def test_a_fresh_evaluation_runs_the_registered_model(
    gov: Tether, make_tether: Callable[..., Tether], tmp_path: Path
) -> None:
    path, data, y = fit_model(tmp_path)
    v = gov.models.register("scorer", path, actor="user:ana", features=["income", "debt"],
                            metrics={"auc": 0.99}, code=None)  # fmt: skip
    gov.gates.set("scorer", {"metrics": [{"metric": "auc", "min": 0.8},
                                         {"metric": "accuracy", "min": 0.7}]},
                  actor="user:ana", reason="holdout bar")  # fmt: skip
    report = gov.gates.run("scorer", v.version, actor="user:ana", X=data, y=y)
    assert report.passed, report.failing
    assert {r.source for r in report.results if r.kind == "metric"} == {"evaluation"}
    evaluation = report.evaluation or {}
    assert evaluation["model_digest"] == v.digest
    assert evaluation["rows"] == 600
    assert 0.8 < evaluation["metrics"]["auc"] <= 1.0
    assert set(evaluation["metrics"]) >= {"accuracy", "precision", "recall", "f1", "auc", "brier"}
    with pytest.raises(InvalidInput, match="not both"):
        gov.gates.run("scorer", v.version, actor="user:ana", X=data, predictions=y)
    with pytest.raises(InvalidInput, match="different lengths"):
        gov.gates.run("scorer", v.version, actor="user:ana", y=y, predictions=y[:-1])
    with pytest.raises(InvalidInput, match="is computed from the evaluation data"):
        gov.gates.run("scorer", v.version, actor="user:ana", y=y, predictions=y,
                      metrics={"accuracy": 1.0})  # fmt: skip
    with pytest.raises(InvalidInput, match=r"lacks the model's feature\(s\) \['debt'\]"):
        gov.gates.run("scorer", v.version, actor="user:ana", X={"income": data["income"]}, y=y)
    # the artifact changed after registration: the model is not loaded, nothing is judged
    path.write_bytes(path.read_bytes() + b"\0")
    fresh = make_tether()  # another process: the model is not in its memory
    with pytest.raises(VerificationError, match="changed after registration"):
        fresh.gates.run("scorer", v.version, actor="user:ana", X=data, y=y)
    assert fresh.gates.report("scorer", v.version) == report  # nothing new was recorded


# -- promotion --------------------------------------------------------------------------------


def test_a_failing_gate_blocks_promotion_and_results_are_stored_with_the_version(
    gov: Tether,
) -> None:
    gates = gov.gates.set("scorer", AUC_MIN, actor="user:ana", reason="launch criteria")
    weak = register(gov, "scorer", "weak", auc=0.7)
    with pytest.raises(GateFailed) as failed:
        gov.models.promote("scorer", weak, actor="user:ana", reason="ship it")
    assert isinstance(failed.value, GateFailed)
    assert "auc.min (auc 0.7 < 0.8)" in str(failed.value)
    assert "override" in str(failed.value)
    with pytest.raises(NotFound):
        gov.models.resolve("scorer")
    stored = gov.gates.report("scorer", weak)
    assert stored is not None
    assert (stored.passed, stored.gate_version, stored.gate_digest) == (False, 1, gates.digest)
    assert [(r.name, r.passed, r.value, r.threshold) for r in stored.results] == [
        ("auc.min", False, 0.7, 0.8), ("signoff", True, None, None),
    ]  # fmt: skip
    assert stored.results[1].detail == "not required: scorer is a limited-risk system"
    assert gov.ledger.get(stored.ledger_index).kind == "gates.evaluated"
    assert failed.value.report == stored

    strong = register(gov, "scorer", "strong", auc=0.9)
    report = gov.gates.run("scorer", strong, actor="user:ana")
    move = gov.models.promote("scorer", strong, actor="user:ana", reason="ship it")
    assert gov.models.resolve("scorer").version == strong
    gated = (move.evidence or {})["gates"]
    assert (gated["passed"], gated["gate_version"], gated["report"]) == (
        True, 1, report.ledger_index,
    )  # fmt: skip
    # the stored passing report was used: no second evaluation
    kinds = [e.kind for e in gov.ledger.iter_entries()]
    assert kinds.count("gates.evaluated") == 2
    # results are kept per (version, gate version): a new gate version has none yet
    gov.gates.set("scorer", {"metrics": [{"metric": "auc", "min": 0.95}]}, actor="user:ana",
                  reason="stricter")  # fmt: skip
    assert gov.gates.report("scorer", strong) is None
    assert [r.gate_version for r in gov.gates.reports("scorer", strong)] == [1]
    ledger_ok(gov)


def override(
    t: Tether, system: str, version: int, *, by: str, why: str, alias: str = "champion",
    promoter: str = "user:ana",
) -> Any:  # fmt: skip
    """Promote over failing gates: ask, ``by`` approves themselves, promote again."""
    kwargs: dict[str, Any] = {"actor": promoter, "reason": "needed now", "alias": alias,
                              "override_by": by, "justification": why}  # fmt: skip
    with pytest.raises(ApprovalRequired) as asked:
        t.models.promote(system, version, **kwargs)
    t.approvals.approve(asked.value.approval_id, approver=by, comment="risk accepted")
    return t.models.promote(system, version, approval_id=asked.value.approval_id, **kwargs)


def test_an_override_needs_a_justification_and_a_second_person_with_a_role(gov: Tether) -> None:
    gov.gates.set("scorer", AUC_MIN, actor="user:ana", reason="launch criteria")
    weak = register(gov, "scorer", "weak", auc=0.7)

    def promote(**kwargs: Any) -> Any:
        return gov.models.promote("scorer", weak, actor="user:ana", reason="needed now",
                                  **kwargs)  # fmt: skip

    with pytest.raises(InvalidInput, match="needs a justification"):
        promote(override_by="user:bo")
    with pytest.raises(InvalidInput, match="needs a justification"):
        promote(override_by="user:bo", justification="  ok  ")
    with pytest.raises(InvalidInput, match="only with an override approver"):
        promote(justification="a perfectly good reason")
    why = "regulator deadline; risk accepted by the model risk committee"
    with pytest.raises(InvalidInput, match="on its own promotion"):
        promote(override_by="user:ana", justification=why)
    with pytest.raises(InvalidInput, match="needs one of the roles"):
        promote(override_by="user:dan", justification=why)
    with pytest.raises(InvalidInput, match="only a registered, active person"):
        promote(override_by="svc:ci", justification=why)
    with pytest.raises(InvalidInput, match="only a registered, active person"):
        promote(override_by="user:nobody", justification=why)
    assert not any(e.kind == "gates.overridden" for e in gov.ledger.iter_entries())
    with pytest.raises(NotFound):
        gov.models.resolve("scorer")

    move = override(gov, "scorer", weak, by="user:bo", why=why)
    assert gov.models.resolve("scorer").version == weak
    gated = (move.evidence or {})["gates"]
    assert gated["passed"] is False
    entry = gov.ledger.get(gated["override"])
    # the promoter records the override; the approver acted in the approval
    assert (entry.kind, entry.actor) == ("gates.overridden", "user:ana")
    payload = entry.payload
    assert (payload["promoter"], payload["approver"], payload["justification"]) == (
        "user:ana", "user:bo", why,
    )  # fmt: skip
    approval = gov.approvals.get(payload["approval"])
    assert (approval.action, approval.state, approval.requester) == (
        "gates.override", "consumed", "user:ana",
    )  # fmt: skip
    assert [v["approver"] for v in approval.votes] == ["user:bo"]
    assert [f["name"] for f in payload["failing"]] == ["auc.min"]
    assert payload["report"] == gated["report"]
    assert gov.models.history("scorer")[-1].evidence == move.evidence
    assert gov.ledger.get(move.ledger_index).payload["evidence"]["gates"]["override"] == (
        entry.index
    )
    ledger_ok(gov)


def test_an_override_is_the_named_approvers_own_act(gov: Tether) -> None:
    # review finding: promote(override_by="user:bo") alone recorded bo as overriding
    gov.gates.set("scorer", {**AUC_MIN, "override_roles": ["model_approver", "admin"]},
                  actor="user:ana", reason="launch criteria")  # fmt: skip
    weak = register(gov, "scorer", "weak", auc=0.7)
    why = "bo said it is fine, trust me"
    kwargs: dict[str, Any] = {"actor": "user:ana", "reason": "ship it", "override_by": "user:bo",
                              "justification": why}  # fmt: skip
    with pytest.raises(ApprovalRequired, match="user:bo's act") as asked:
        gov.models.promote("scorer", weak, **kwargs)
    approval_id = asked.value.approval_id
    asked_for = gov.approvals.get(approval_id)
    assert (asked_for.action, asked_for.state, asked_for.needed()[0]["roles"]) == (
        "gates.override", "pending", ["model_approver", "admin"],
    )  # fmt: skip
    assert asked_for.request["action"]["args"] == {
        "alias": "champion", "version": weak, "override_by": "user:bo", "justification": why,
    }  # fmt: skip
    assert not any(e.kind == "gates.overridden" for e in gov.ledger.iter_entries())
    with pytest.raises(NotFound):
        gov.models.resolve("scorer")
    # not approved yet: still waiting for bo
    with pytest.raises(ApprovalRequired, match="has not approved it yet"):
        gov.models.promote("scorer", weak, approval_id=approval_id, **kwargs)
    # the promoter cannot approve it, nor an agent
    with pytest.raises(InvalidInput, match="no self-approval"):
        gov.approvals.approve(approval_id, approver="user:ana")
    with pytest.raises(InvalidInput, match="only people"):
        gov.approvals.approve(approval_id, approver="svc:ci")
    # approved by someone else than the named approver: not bo's override
    gov.approvals.approve(approval_id, approver="user:cy")
    with pytest.raises(InvalidInput, match="not by the named override approver 'user:bo'"):
        gov.models.promote("scorer", weak, approval_id=approval_id, **kwargs)
    # bound to the justification, the version and the alias
    with pytest.raises(ApprovalRequired) as again:
        gov.models.promote("scorer", weak, **kwargs)
    gov.approvals.approve(again.value.approval_id, approver="user:bo")
    changed = {**kwargs, "justification": "another story entirely"}
    with pytest.raises(InvalidInput, match="justification differ"):
        gov.models.promote("scorer", weak, approval_id=again.value.approval_id, **changed)
    other = register(gov, "scorer", "other", auc=0.6)
    with pytest.raises(InvalidInput, match="version differ"):
        gov.models.promote("scorer", other, approval_id=again.value.approval_id, **kwargs)
    move = gov.models.promote("scorer", weak, approval_id=again.value.approval_id, **kwargs)
    entry = gov.ledger.get((move.evidence or {})["gates"]["override"])
    assert (entry.actor, entry.payload["approver"], entry.payload["approval"]) == (
        "user:ana", "user:bo", again.value.approval_id,
    )  # fmt: skip
    # single use
    with pytest.raises(InvalidInput, match="already used"):
        gov.models.promote("scorer", weak, approval_id=again.value.approval_id, **kwargs)
    ledger_ok(gov)


def test_an_override_is_bound_to_the_gate_set(gov: Tether) -> None:
    gov.gates.set("scorer", AUC_MIN, actor="user:ana", reason="launch criteria")
    weak = register(gov, "scorer", "weak", auc=0.7)
    why = "regulator deadline; risk accepted"
    kwargs: dict[str, Any] = {"actor": "user:ana", "reason": "ship", "override_by": "user:bo",
                              "justification": why}  # fmt: skip
    with pytest.raises(ApprovalRequired) as asked:
        gov.models.promote("scorer", weak, **kwargs)
    gov.approvals.approve(asked.value.approval_id, approver="user:bo")
    gov.gates.set("scorer", {"metrics": [{"metric": "auc", "min": 0.9}]}, actor="user:ana",
                  reason="stricter")  # fmt: skip
    gov.gates.run("scorer", weak, actor="user:ana", metrics={"auc": 0.7})
    with pytest.raises(InvalidInput, match="gate_digest, gate_version"):
        gov.models.promote("scorer", weak, approval_id=asked.value.approval_id, **kwargs)
    # a sign-off approval is not an override approval: a new one is asked for
    with pytest.raises(ApprovalRequired, match="user:bo's act"):
        gov.models.promote("scorer", weak, **kwargs)


def test_relative_gates_compare_with_the_champion(gov: Tether) -> None:
    gov.gates.set("scorer", {"metrics": [{"metric": "auc", "max_drop": 0.02}]}, actor="user:ana",
                  reason="no regression")  # fmt: skip
    first = register(gov, "scorer", "1", auc=0.80)
    move = gov.models.promote("scorer", first, actor="user:ana", reason="first")
    report = gov.gates.report("scorer", first)
    assert report is not None
    assert report.results[0].detail == "no 'champion' yet: nothing to compare with"
    assert (move.evidence or {})["gates"]["passed"]
    close = register(
        gov, "scorer", "2", auc=0.78
    )  # a drop of exactly 0.02 (in floats, a hair more)
    gov.models.promote("scorer", close, actor="user:ana", reason="close enough")
    worse = register(gov, "scorer", "3", auc=0.75)
    with pytest.raises(GateFailed, match=r"auc.max_drop \(auc 0.75 vs 0.78 for version 2"):
        gov.models.promote("scorer", worse, actor="user:ana", reason="cheaper")
    # a fixed baseline version, and lower-is-better metrics
    gov.gates.set("scorer", {"metrics": [{"metric": "brier", "max_rise": 0.01, "baseline": 1}]},
                  actor="user:ana", reason="calibration")  # fmt: skip
    nobrier = gov.gates.run("scorer", worse, actor="user:ana", metrics={"brier": 0.2})
    assert nobrier.failing[0].detail == "the baseline (version 1) has no registered brier"


def test_the_gated_aliases_come_from_the_spec_and_rollback_is_never_gated(gov: Tether) -> None:
    gov.gates.set("scorer", AUC_MIN, actor="user:ana", reason="launch criteria")
    good, weak = register(gov, "scorer", "good", auc=0.9), register(gov, "scorer", "w", auc=0.6)
    gov.models.promote("scorer", weak, alias="challenger", actor="user:ana", reason="A/B")
    assert gov.models.resolve("scorer", "challenger").version == weak
    gov.gates.set("scorer", {**AUC_MIN, "aliases": ["champion", "challenger"]},
                  actor="user:ana", reason="gate the challenger too")  # fmt: skip
    with pytest.raises(GateFailed):
        gov.models.promote("scorer", weak, alias="challenger", actor="user:ana", reason="A/B")
    # any change to the gate set is a new version: earlier registered metrics need a
    # fresh evaluation
    gov.gates.run("scorer", good, actor="user:ana", metrics={"auc": 0.9})
    gov.models.promote("scorer", good, actor="user:ana", reason="release")
    why = "incident 42: v1 serves errors"
    override(gov, "scorer", weak, by="user:cy", why=why)
    # now the gates are impossible to pass; a rollback still works
    gov.gates.set("scorer", {"metrics": [{"metric": "auc", "min": 0.999}]}, actor="user:ana",
                  reason="paranoid")  # fmt: skip
    back = gov.models.rollback("scorer", actor="user:ana", reason="hotfix broke things")
    assert (back.kind, back.version) == ("rollback", good)
    assert back.evidence is None
    # a plain set_alias cannot go around the gates of a gated alias
    with pytest.raises(InvalidInput, match="guarded by gates"):
        gov.models.set_alias("scorer", "champion", weak, actor="user:ana", reason="sneak")
    assert gov.models.resolve("scorer").version == good
    ledger_ok(gov)


# -- fairness ---------------------------------------------------------------------------------


def lending(fair: bool) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """400 women and 400 men; men selected at 50%, women at 50% (fair) or 30% (not)."""
    rng = np.random.default_rng(11)
    sex = np.array(["F"] * 400 + ["M"] * 400)
    women = 200 if fair else 120
    pred = np.array([1] * women + [0] * (400 - women) + [1] * 200 + [0] * 200)
    order = rng.permutation(800)
    y = pred.copy()  # a perfect classifier: equal true and false positive rates
    return y[order], pred[order], {"sex": sex[order]}


def test_a_fairness_gate_on_seeded_data(gov: Tether) -> None:
    gov.gates.set("scorer", {"fairness": {"min_impact_ratio": 0.8,
                                          "max_equalized_odds_difference": 0.1}},
                  actor="user:ana", reason="four-fifths")  # fmt: skip
    v = register(gov, "scorer", "1")
    y, pred, sex = lending(fair=False)
    unfair = gov.gates.run("scorer", v, actor="user:ana", y=y, predictions=pred, sensitive=sex)
    ratio, eod = unfair.results[0], unfair.results[1]
    assert (ratio.name, ratio.passed, ratio.threshold) == ("fairness.min_impact_ratio", False, 0.8)
    assert ratio.value == pytest.approx(0.6)
    assert ratio.detail == "sex=F: impact ratio 0.6 < 0.8"
    assert (eod.passed, eod.value) == (True, 0.0)
    assert not unfair.passed
    with pytest.raises(GateFailed, match=r"fairness\.min_impact_ratio"):
        gov.models.promote("scorer", v, actor="user:ana", reason="ship")

    y, pred, sex = lending(fair=True)
    fair = gov.gates.run("scorer", v, actor="user:ana", y=y, predictions=pred, sensitive=sex)
    assert fair.passed
    assert fair.results[0].value == pytest.approx(1.0)
    assert (fair.evaluation or {})["sensitive"] == ["sex"]
    gov.models.promote("scorer", v, actor="user:ana", reason="fair on the holdout")
    # scores are cut at the threshold; without labels the equalized odds cannot be judged
    scores = np.where(pred == 1, 0.9, 0.1)
    unlabelled = gov.gates.run("scorer", v, actor="user:ana", scores=scores, sensitive=sex)
    assert unlabelled.results[0].passed
    assert (unlabelled.results[1].passed, unlabelled.results[1].detail) == (
        False, "needs labels (y)",
    )  # fmt: skip
    nothing = gov.gates.run("scorer", v, actor="user:ana", metrics={"x": 1.0})
    assert nothing.results[0].detail.startswith("needs evaluation data")
    gov.gates.set("scorer", {"fairness": {"min_impact_ratio": 0.8, "attributes": ["age_band"]}},
                  actor="user:ana", reason="age too")  # fmt: skip
    missing = gov.gates.run("scorer", v, actor="user:ana", y=y, predictions=pred, sensitive=sex)
    assert (
        missing.results[0].detail
        == "sensitive column(s) ['age_band'] missing from the evaluation data"
    )
    ledger_ok(gov)


# -- drift ------------------------------------------------------------------------------------

WINDOW = 200


def record(t: Tether, n: int, shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for income in rng.normal(50 + shift, 15, n):
        assert t.decide("loan-model", "predict", actor="svc:api",
                        inputs={"income": float(income)}).allowed  # fmt: skip


def test_a_drift_gate_on_a_monitored_system(gov: Tether) -> None:
    gov.gates.set("loan-model", {"drift": {"fail_at": "medium"}, "signoff": {"required": "never"}},
                  actor="user:ana", reason="production must look like training")  # fmt: skip
    v = register(gov, "loan-model", "1")
    no_baseline = gov.gates.run("loan-model", v, actor="user:ana")
    assert not no_baseline.passed
    assert "has no monitoring baseline" in no_baseline.results[0].detail
    rng = np.random.default_rng(1)
    base = Baseline.build({"income": rng.normal(50, 15, 6_000)}, window_size=WINDOW)
    gov.monitor.set_baseline("loan-model", base, action="predict", actor="user:ana")
    record(gov, 50, 0.0, 2)
    few = gov.gates.run("loan-model", v, actor="user:ana")
    assert (
        few.results[0].detail == "only 50 recent decisions of loan-model; the drift gate needs 100"
    )
    record(gov, WINDOW, 0.0, 3)
    quiet = gov.gates.run("loan-model", v, actor="user:ana")
    assert quiet.passed, quiet.results
    assert quiet.results[0].value == "none"
    assert quiet.results[0].source.endswith(f"({WINDOW})")
    record(gov, WINDOW, 25.0, 4)  # incomes moved by 1.7 sigma
    moved = gov.gates.run("loan-model", v, actor="user:ana")
    drift = moved.results[0]
    assert (drift.name, drift.passed, drift.threshold) == ("drift", False, "medium")
    assert drift.value in ("medium", "high")
    assert "income" in drift.detail
    # no signals are raised by a gate run (it only reads)
    assert not any(e.kind == "signal.raised" for e in gov.ledger.iter_entries())
    with pytest.raises(GateFailed, match="drift"):
        gov.models.promote("loan-model", v, actor="user:ana", reason="ship")
    ledger_ok(gov)


def test_a_failing_evaluation_is_not_replaced_by_registered_metrics(gov: Tether) -> None:
    # review finding: promote re-ran a failing evaluated report on self-reported metrics
    gov.gates.set("scorer", AUC_MIN, actor="user:ana", reason="launch criteria")
    v = register(gov, "scorer", "v", auc=0.99)  # registered after the gates, self-reported
    failed = gov.gates.run("scorer", v, actor="user:ana", metrics={"auc": 0.55})
    assert not failed.passed
    with pytest.raises(GateFailed, match=r"auc.min \(auc 0.55 < 0.8\)") as refused:
        gov.models.promote("scorer", v, actor="user:ana", reason="ship")
    assert refused.value.report == failed  # the evaluated report, not a rerun
    # a run without evaluation data does not supersede it either
    with pytest.raises(InvalidInput, match="does not replace it"):
        gov.gates.run("scorer", v, actor="user:ana")
    assert gov.gates.report("scorer", v) == failed
    with pytest.raises(NotFound):
        gov.models.resolve("scorer")
    # new evaluation data do
    passed = gov.gates.run("scorer", v, actor="user:ana", y=[1, 0, 1, 0],
                           scores=[0.9, 0.1, 0.8, 0.3])  # fmt: skip
    assert passed.passed
    move = gov.models.promote("scorer", v, actor="user:ana", reason="ship")
    assert (move.evidence or {})["gates"]["report"] == passed.ledger_index
    ledger_ok(gov)


# -- sign-off ---------------------------------------------------------------------------------


def test_a_high_risk_system_needs_a_sign_off_by_someone_else(gov: Tether) -> None:
    gov.gates.set("loan-model", AUC_MIN, actor="user:ana", reason="launch criteria")
    v1, v2 = register(gov, "loan-model", "1", auc=0.9), register(gov, "loan-model", "2", auc=0.9)
    report = gov.gates.run("loan-model", v1, actor="user:ana")
    signoff = report.results[-1]
    assert (report.passed, signoff.passed) == (True, None)  # judged at promotion
    # promoting without a sign-off asks for one
    with pytest.raises(ApprovalRequired, match="needs a sign-off") as asked:
        gov.models.promote("loan-model", v1, actor="user:ana", reason="release")
    approval = gov.approvals.get(asked.value.approval_id)
    assert (approval.action, approval.state, approval.requester) == (
        "gates.signoff", "pending", "user:ana",
    )  # fmt: skip
    # a pending approval is not a sign-off
    with pytest.raises(GateFailed, match="is pending, not approved"):
        gov.models.promote("loan-model", v1, actor="user:ana", reason="release",
                           approval_id=approval.id)  # fmt: skip
    gov.approvals.approve(approval.id, approver="user:bo", comment="validation report read")
    # a run told who will promote judges the sign-off at once
    for promoter, passed in (("user:ana", True), ("user:bo", False)):
        judged = gov.gates.run("loan-model", v1, actor="user:ana", approval_id=approval.id,
                               promoter=promoter)  # fmt: skip
        assert judged.results[-1].passed is passed
    # it signs off version 1, not version 2
    with pytest.raises(GateFailed, match="approves version 1, not 2"):
        gov.models.promote("loan-model", v2, actor="user:ana", reason="release",
                           approval_id=approval.id)  # fmt: skip
    # the signer cannot be the promoter
    with pytest.raises(GateFailed, match="granted only by the promoter 'user:bo'"):
        gov.models.promote("loan-model", v1, actor="user:bo", reason="release",
                           approval_id=approval.id)  # fmt: skip
    move = gov.models.promote("loan-model", v1, actor="user:ana", reason="release",
                              approval_id=approval.id)  # fmt: skip
    signed = (move.evidence or {})["gates"]["signoff"]
    assert (signed["passed"], signed["source"]) == (True, "user:bo")
    # a sign-off request names the roles of the gate
    gov.gates.set("loan-model", {**AUC_MIN, "signoff": {"roles": ["risk_officer"]}},
                  actor="user:ana", reason="risk signs off")  # fmt: skip
    with pytest.raises(NotFound):
        gov.gates.request_signoff("loan-model", 9, requester="user:ana")
    asked_again = gov.gates.request_signoff("loan-model", v2, requester="user:ana")
    assert asked_again.needed()[0]["roles"] == ["risk_officer"]
    ledger_ok(gov)


APPROVING_POLICY = POLICY.replace(
    "  - id: serve\n",
    """  - id: new-champion-needs-a-second-person
    actions: [set_alias]
    when: action.args.alias == "champion" && action.args.kind == "promote"
    effect: require_approval
    approvers: {roles: [model_approver]}
  - id: serve
""",
)


def test_the_moves_own_approval_is_a_sign_off(make_tether: Callable[..., Tether]) -> None:
    t = governed(make_tether(), APPROVING_POLICY)
    t.gates.set("loan-model", AUC_MIN, actor="user:ana", reason="launch criteria")
    v1 = register(t, "loan-model", "1", auc=0.9)
    with pytest.raises(ApprovalRequired) as signoff:
        t.models.promote("loan-model", v1, actor="user:ana", reason="release")
    t.approvals.approve(signoff.value.approval_id, approver="user:bo")
    # the gates pass; now the policy asks for its own approval of the move
    with pytest.raises(ApprovalRequired) as policy:
        t.models.promote("loan-model", v1, actor="user:ana", reason="release",
                         approval_id=signoff.value.approval_id)  # fmt: skip
    move_approval = t.approvals.get(policy.value.approval_id)
    assert move_approval.action == "set_alias"
    t.approvals.approve(move_approval.id, approver="user:bo")
    # that approval signs off too (same version, a second person) and the pipeline uses it
    move = t.models.promote("loan-model", v1, actor="user:ana", reason="release",
                            approval_id=move_approval.id)  # fmt: skip
    assert (move.evidence or {})["gates"]["signoff"]["value"] == move_approval.id
    assert t.approvals.get(move_approval.id).state == "consumed"
    ledger_ok(t)


def test_an_overridden_approval_signs_off_by_the_person_who_overrode(gov: Tether) -> None:
    gov.gates.set("scorer", {"signoff": {"required": "always"}}, actor="user:ana",
                  reason="every release is signed")  # fmt: skip
    v = register(gov, "scorer", "1")
    asked = gov.gates.request_signoff("scorer", v, requester="user:ana", reason="release 1")
    gov.approvals.override(asked.id, actor="user:cy", justification="approved in committee 12")
    with pytest.raises(GateFailed, match="granted only by the promoter 'user:cy'"):
        gov.models.promote("scorer", v, actor="user:cy", reason="go", approval_id=asked.id)
    move = gov.models.promote("scorer", v, actor="user:ana", reason="go", approval_id=asked.id)
    assert (move.evidence or {})["gates"]["signoff"]["source"] == "user:cy"


def test_a_sign_off_is_for_its_alias_and_gate_set_and_used_once(gov: Tether) -> None:
    # review finding: a challenger sign-off promoted the champion, and was reusable
    gov.gates.set("loan-model", {**AUC_MIN, "aliases": ["champion", "challenger"]},
                  actor="user:ana", reason="launch criteria")  # fmt: skip
    v1 = register(gov, "loan-model", "1", auc=0.9)
    asked = gov.gates.request_signoff("loan-model", v1, requester="user:ana", alias="challenger")
    gov.approvals.approve(asked.id, approver="user:bo")
    with pytest.raises(GateFailed, match="signs off alias 'challenger', not 'champion'"):
        gov.models.promote("loan-model", v1, actor="user:ana", reason="go",
                           approval_id=asked.id)  # fmt: skip
    move = gov.models.promote("loan-model", v1, actor="user:ana", reason="go",
                              alias="challenger", approval_id=asked.id)  # fmt: skip
    assert (move.evidence or {})["gates"]["signoff"]["source"] == "user:bo"
    assert gov.approvals.get(asked.id).state == "consumed"
    with pytest.raises(GateFailed, match="already used"):
        gov.models.promote("loan-model", v1, actor="user:ana", reason="again",
                           alias="challenger", approval_id=asked.id)  # fmt: skip
    # a sign-off under one gate set does not sign off under the next
    v2 = register(gov, "loan-model", "2", auc=0.95)
    old = gov.gates.request_signoff("loan-model", v2, requester="user:ana")
    gov.approvals.approve(old.id, approver="user:bo")
    gov.gates.set("loan-model", {"metrics": [{"metric": "auc", "min": 0.85}]},
                  actor="user:ana", reason="stricter")  # fmt: skip
    gov.gates.run("loan-model", v2, actor="user:ana", metrics={"auc": 0.95})
    with pytest.raises(GateFailed, match="signed off another gate set"):
        gov.models.promote("loan-model", v2, actor="user:ana", reason="go", approval_id=old.id)
    assert gov.approvals.get(old.id).state == "approved"
    ledger_ok(gov)


def test_an_unregistered_system_is_treated_as_high_risk(gov: Tether) -> None:
    gov.gates.set("ghost", AUC_MIN, actor="user:ana", reason="criteria")
    v = register(gov, "ghost", "1", auc=0.9)
    with pytest.raises(ApprovalRequired):
        gov.models.promote("ghost", v, actor="user:ana", reason="release")


# -- schema -----------------------------------------------------------------------------------


def test_the_migration_makes_the_tables_the_code_declares(gov: Tether) -> None:
    with gov.store.read() as conn:
        found = inspect(conn)
        for table in (gate_sets, gate_results):
            columns = {c["name"]: c for c in found.get_columns(table.name)}
            assert list(columns) == [c.name for c in table.columns]
            for c in table.columns:
                assert columns[c.name]["nullable"] == c.nullable, (table.name, c.name)
                assert columns[c.name]["type"]._type_affinity == c.type._type_affinity or (
                    c.type.__class__.__name__ == "BigInteger"
                ), (table.name, c.name)
            primary = found.get_pk_constraint(table.name)["constrained_columns"]
            assert primary == [c.name for c in table.primary_key.columns]


# -- the artifact a gate run loads --------------------------------------------------------
# (a loader test: it belongs with tests/registry/test_models.py, which this change did not own)


class _LazyModel:
    """Reads its weights on first use, after the loader returned (as some libraries do)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def predict(self) -> bytes:
        return (self.folder / "weights.bin").read_bytes()


def test_a_loader_deserialises_the_private_copy_it_hashed(
    gov: Tether, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # review finding: the fetched folder was hashed, then read again for deserialising
    import gc

    import tether.registry._models as models

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"REGISTERED")
    monkeypatch.setitem(models._LOADERS, "lazy", (lambda uri: folder, _LazyModel))
    v = gov.models.register("scorer", folder, uri="lazy://scorer/1", actor="user:ana", code=None)
    checked = models._check_digest

    def check_then_swap(actual: str, expected: str, uri: str) -> None:
        checked(actual, expected, uri)
        (folder / "weights.bin").write_bytes(b"ATTACKER")  # in the window after the check

    monkeypatch.setattr(models, "_check_digest", check_then_swap)
    model = models.load_artifact(v.uri, v.digest)
    assert model.predict() == b"REGISTERED"  # read lazily, from the private copy
    copy = model.folder
    assert copy != folder
    assert copy.exists()
    del model
    gc.collect()
    assert not copy.parent.exists()  # removed with the model
    monkeypatch.setattr(models, "_check_digest", checked)
    with pytest.raises(VerificationError):
        models.load_artifact(v.uri, v.digest)
