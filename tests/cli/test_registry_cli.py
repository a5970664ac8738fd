"""``tether registry`` and ``tether gates`` from the command line."""

from __future__ import annotations

import csv
from pathlib import Path

import joblib
import numpy as np
import orjson
import pytest
from sklearn.linear_model import LogisticRegression
from tests.registry.test_gates import POLICY

from .harness import Cli, expect_error

GATES = "metrics:\n  - {metric: auc, min: 0.8}\nfairness: {min_impact_ratio: 0.8}\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A fitted model, a second artifact, evaluation data, a policy and a gate spec."""
    rng = np.random.default_rng(0)
    n = 600
    income, debt = rng.normal(50, 10, n), rng.uniform(0, 1, n)
    y = (((income - 50) / 10 - 2 * (debt - 0.5) + rng.normal(0, 0.5, n)) > 0).astype(int)
    model = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(np.column_stack([income, debt]), y), model)
    other = tmp_path / "other.joblib"
    other.write_bytes(model.read_bytes() + b"\0")
    data = tmp_path / "eval.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["income", "debt", "label", "sex"])
        for i in range(n):
            w.writerow([f"{income[i]:.4f}", f"{debt[i]:.4f}", y[i], "FM"[i % 2]])
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    gates = tmp_path / "gates.yaml"
    gates.write_text(GATES, encoding="utf-8")
    return {"model": model, "other": other, "data": data, "policy": policy, "gates": gates}


def governed(cli: Cli, files: dict[str, Path]) -> None:
    cli.ok("init")
    for actor, role in (("user:ana", "model_owner"), ("user:bo", "model_approver")):
        cli.ok("actors", "register", actor, "--kind", "human", "--role", role, "--actor", "admin")
    cli.ok("policy", "publish", str(files["policy"]), "--actor", "admin")


def test_register_list_show_promote_history_rollback(cli: Cli, files: dict[str, Path]) -> None:
    governed(cli, files)
    out = cli.ok("registry", "register", "scorer", str(files["model"]), "--actor", "user:ana",
                 "--metric", "auc=0.9", "--metric", "f1=0.8", "--features", "income,debt",
                 "--data", str(files["data"]), "--description", "first")  # fmt: skip
    assert out.startswith("registered scorer version 1: sha256 ")
    cli.ok("registry", "register", "scorer", str(files["other"]), "--actor", "user:ana",
           "--parent", "1")  # fmt: skip
    listed = orjson.loads(cli.ok("registry", "list", "scorer", "--json"))
    assert [(v["version"], v["metrics"], v["parent"]) for v in listed] == [
        (1, {"auc": 0.9, "f1": 0.8}, None), (2, {}, 1),
    ]  # fmt: skip
    assert listed[0]["features"] == ["income", "debt"]
    assert listed[0]["data"]["rows"] == 600
    assert "auc=0.9, f1=0.8" in cli.ok("registry", "list", "scorer")

    for v in ("1", "2"):
        out = cli.ok("registry", "promote", "scorer", v, "--actor", "user:ana", "--reason", "go")
        assert out.startswith(f"scorer champion: {'-' if v == '1' else '1'} → {v} (ledger index")
    shown = orjson.loads(cli.ok("registry", "show", "scorer", "champion", "--json"))
    assert (shown["version"], shown["aliases"], shown["gates"]) == (2, ["champion"], [])
    assert "scorer version 1" in cli.ok("registry", "show", "scorer", "1")
    moves = orjson.loads(cli.ok("registry", "history", "scorer", "--json"))
    assert [(m["from"], m["to"], m["kind"]) for m in moves] == [(None, 1, "promote"),
                                                                 (1, 2, "promote")]  # fmt: skip
    out = cli.ok("registry", "rollback", "scorer", "--actor", "user:ana", "--reason", "bad")
    assert out.startswith("scorer champion: rolled back 2 → 1")
    table = cli.ok("registry", "history", "scorer")
    assert "rollback" in table
    assert "bad" in table
    early = cli.ok("registry", "history", "scorer", "--at", "2000-01-01T00:00:00")
    assert early.strip() == "scorer champion at 2000-01-01T00:00:00+00:00: nothing"
    assert cli.ok("registry", "history", "scorer", "--alias", "shadow").strip() == (
        "scorer shadow never moved"
    )


def test_registry_bad_input_gets_one_clear_error(cli: Cli, files: dict[str, Path]) -> None:
    governed(cli, files)
    expect_error(cli("registry", "register", "scorer", "nope.joblib", "--actor", "user:ana"),
                 "artifact nope.joblib does not exist")  # fmt: skip
    expect_error(cli("registry", "register", "scorer", str(files["model"]), "--actor", "user:ana",
                     "--metric", "auc"), "--metric 'auc': use NAME=NUMBER")  # fmt: skip
    expect_error(cli("registry", "show", "scorer", "9"), "scorer has no version 9")
    expect_error(cli("registry", "show", "scorer", "champion"), "scorer has no 'champion' yet")
    cli.ok("registry", "register", "scorer", str(files["model"]), "--actor", "user:ana")
    expect_error(cli("registry", "promote", "scorer", "1", "--actor", "user:ana", "--reason", " "),
                 "needs a reason")  # fmt: skip
    expect_error(cli("registry", "rollback", "scorer", "--actor", "user:ana", "--reason", "x"),
                 "has no 'champion' to roll back")  # fmt: skip
    assert cli.ok("registry", "list", "other").startswith("other has no versions yet")


def test_gates_set_show_run_and_a_gated_promotion(cli: Cli, files: dict[str, Path]) -> None:
    governed(cli, files)
    out = cli.ok("gates", "set", "scorer", str(files["gates"]), "--actor", "user:ana",
                 "--reason", "launch criteria")  # fmt: skip
    assert out.startswith("scorer gates version 1: sha256 ")
    again = cli.ok("gates", "set", "scorer", str(files["gates"]), "--actor", "user:ana",
                   "--reason", "again")  # fmt: skip
    assert again.startswith("scorer gates unchanged: version 1")
    shown = orjson.loads(cli.ok("gates", "show", "scorer", "--json"))
    assert (shown["version"], shown["spec"]["metrics"][0]["min"]) == (1, 0.8)
    assert [g["version"] for g in shown["versions"]] == [1]
    assert "launch criteria" in cli.ok("gates", "show", "scorer")

    cli.ok("registry", "register", "scorer", str(files["model"]), "--actor", "user:ana",
           "--metric", "auc=0.9", "--features", "income,debt")  # fmt: skip
    # registered metrics alone: the fairness gate has no data; exit 1
    failed = cli("gates", "run", "scorer", "1", "--json")
    assert failed.code == 1
    report = orjson.loads(failed.out)
    assert [(r["name"], r["passed"]) for r in report["results"]] == [
        ("auc.min", True), ("fairness.min_impact_ratio", False), ("signoff", True),
    ]  # fmt: skip
    line = expect_error(cli("registry", "promote", "scorer", "1", "--actor", "user:ana",
                            "--reason", "go"), "refused by gate set version 1")  # fmt: skip
    assert "fairness.min_impact_ratio (needs evaluation data" in line
    # evaluation data: the registered model predicts on its features (digest checked)
    out = cli.ok("gates", "run", "scorer", "1", "--data", str(files["data"]), "--label", "label",
                 "--sensitive", "sex", "--json")  # fmt: skip
    passed = orjson.loads(out)
    assert passed["passed"] is True
    assert passed["evaluation"]["rows"] == 600
    assert passed["evaluation"]["model_digest"] is not None
    assert "passed" in cli.ok("gates", "run", "scorer", "1", "--data", str(files["data"]),
                              "--label", "label", "--sensitive", "sex")  # fmt: skip
    out = cli.ok("registry", "promote", "scorer", "1", "--actor", "user:ana", "--reason", "go")
    assert "(gates passed)" in out
    shown = orjson.loads(cli.ok("registry", "show", "scorer", "1", "--json"))
    assert [g["passed"] for g in shown["gates"]] == [True]
    assert "fairness.min_impact_ratio" in cli.ok("registry", "show", "scorer", "1")

    # a failing version, overridden by a second person with a justification
    cli.ok("registry", "register", "scorer", str(files["other"]), "--actor", "user:ana",
           "--metric", "auc=0.5")  # fmt: skip
    promote = ("registry", "promote", "scorer", "2", "--actor", "user:ana", "--reason", "hotfix")
    expect_error(cli(*promote, "--override-approver", "user:bo"), "needs a justification")
    override = (*promote, "--override-approver", "user:bo", "--justification",
                "incident 7: risk accepted by the committee")  # fmt: skip
    # the override is bo's act: it asks bo, who approves it, then the promoter runs again
    line = expect_error(cli(*override), "user:bo's act", "run again with --approval")
    asked = line.split("--approval ")[1].split(" ")[0]
    assert asked.startswith("apr_")
    expect_error(cli(*override, "--approval", asked), "has not approved it yet")
    cli.ok("approvals", "approve", asked, "--actor", "user:bo")
    out = cli.ok(*override, "--approval", asked)
    assert "(gates overridden)" in out
    expect_error(cli(*override, "--approval", asked), "already used")
    assert "overridden" in cli.ok("registry", "history", "scorer")


def test_gates_bad_input_gets_one_clear_error(cli: Cli, files: dict[str, Path]) -> None:
    governed(cli, files)
    bad = files["gates"].with_name("bad.yaml")
    bad.write_text("metrics:\n  - {metric: auc, mn: 0.8}\n", encoding="utf-8")
    expect_error(cli("gates", "set", "scorer", str(bad), "--actor", "user:ana", "--reason", "x"),
                 "bad.yaml: metrics[0]: unknown key 'mn' (did you mean 'min'?)")  # fmt: skip
    expect_error(cli("gates", "show", "scorer"), "scorer has no gate set")
    # setting gates is governed: the policy lets model owners, not approvers, set them
    expect_error(cli("gates", "set", "scorer", str(files["gates"]), "--actor", "user:bo",
                     "--reason", "x"), "set_gates")  # fmt: skip
    expect_error(cli("gates", "set", "scorer", str(files["gates"]), "--actor", "agent:x",
                     "--reason", "x"), "only a registered, active person")  # fmt: skip
    cli.ok("gates", "set", "scorer", str(files["gates"]), "--actor", "user:ana", "--reason", "x")
    cli.ok("registry", "register", "scorer", str(files["model"]), "--actor", "user:ana")
    expect_error(cli("gates", "run", "scorer", "1", "--label", "label"), "need --data FILE")
    expect_error(cli("gates", "run", "scorer", "1", "--data", str(files["data"]),
                     "--label", "truth"), "no label column 'truth'")  # fmt: skip
    expect_error(cli("gates", "run", "scorer", "1", "--data", str(files["data"]),
                     "--label", "label"), "give --pred or --score")  # fmt: skip
    expect_error(cli("gates", "run", "scorer", "1", "--metric", "x=y"), "use NAME=NUMBER")


def test_a_sign_off_from_the_command_line(cli: Cli, files: dict[str, Path]) -> None:
    governed(cli, files)
    spec = files["gates"].with_name("signoff.yaml")
    spec.write_text("metrics:\n  - {metric: auc, min: 0.8}\n", encoding="utf-8")
    cli.ok("gates", "set", "loan-model", str(spec), "--actor", "user:ana", "--reason", "x")
    cli.ok("registry", "register", "loan-model", str(files["model"]), "--actor", "user:ana",
           "--metric", "auc=0.9")  # fmt: skip
    run = orjson.loads(cli.ok("gates", "run", "loan-model", "1", "--json"))
    assert run["results"][-1]["passed"] is None  # judged at promotion
    promote = ("registry", "promote", "loan-model", "1", "--actor", "user:ana", "--reason", "go")
    line = expect_error(cli(*promote), "needs a sign-off", "once approved")
    asked = line.split("approval ")[1].split(" ")[0]
    approval = cli.ok("gates", "signoff", "loan-model", "1", "--actor", "user:ana").strip()
    assert approval.startswith("apr_")
    assert approval != asked
    expect_error(cli(*promote, "--approval", approval), "is pending, not approved")
    cli.ok("approvals", "approve", approval, "--actor", "user:bo")
    assert "(gates passed)" in cli.ok(*promote, "--approval", approval)
    expect_error(cli("gates", "signoff", "loan-model", "7", "--actor", "user:ana"),
                 "loan-model has no version 7")  # fmt: skip
