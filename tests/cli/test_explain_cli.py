"""``tether explain DECISION_ID`` and ``tether fairness DATA`` from the command line."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from tests.explain.test_decisions import DECLINED, POLICY, decide, register

from tether import Settings, Tether
from tether.policy import Policy

from .harness import Cli, expect_error, ledger_size


@pytest.fixture
def bare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    return Cli(Settings(home=tmp_path / "unused"), capsys, monkeypatch)


def test_explain_prints_the_sentence_the_top_features_and_the_stored_json(
    cli: Cli, tmp_path: Path
) -> None:
    cli.ok("init")
    with Tether.open(cli.settings) as t:
        t.actors.register("svc:scoring", kind="service", roles=["scoring"], actor="admin")
        t.policies.publish(Policy.from_text(POLICY, "explain.yaml"), actor="admin")
        v = register(t, tmp_path)
        decision = decide(t, v, DECLINED)
        bare = decide(t, None, DECLINED)
    out = cli.ok("explain", decision, "--actor", "user:ana")
    lines = out.splitlines()
    assert lines[0].startswith("The score of class 1 was -")
    assert "mostly because of debt_ratio = 0.62" in out
    assert "debt_ratio" in lines[4]
    assert "lowers" in lines[4]
    assert "margin of class 1: " in out
    assert "; base value " in out
    assert "explainer: TreeExplainer (shap " in out
    assert f"model: loan-model version 1 (sha256 {v.digest[:12]}...); ledger entry " in out
    size = ledger_size(cli.url)
    raw = cli.ok("explain", decision, "--json")
    assert ledger_size(cli.url) == size  # asked again: the stored one, nothing appended
    with Tether.open(cli.settings) as t:
        stored = t.explanations.stored(decision)
        assert stored is not None
        entry = t.ledger.get(stored.ledger_index)
    assert (entry.actor, entry.subject) == ("user:ana", f"decision/{decision}")
    assert raw.rstrip("\n").encode() == stored.explanation.to_json()
    assert orjson.loads(raw)["top"][0] == "debt_ratio"
    two = cli.ok("explain", decision, "--top", "2")
    assert "2 more feature(s) add " in two
    expect_error(cli("explain", "dec_nope"), "no decision 'dec_nope'")
    expect_error(cli("explain", bare), f"decision {bare}", "has no model context")
    expect_error(cli("explain", decision, "--top", "0"), "top=0")


def write_csv(path: Path, columns: dict[str, list[Any]]) -> Path:
    names = list(columns)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        w.writerows(zip(*(columns[n] for n in names), strict=True))
    return path


def decisions(n: int, rate: dict[str, float], seed: int) -> dict[str, list[Any]]:
    """``n`` decisions per sex (plus 6 rows of a group too small to judge), each group
    selected at its ``rate``; labels agree with the score most of the time."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[Any]] = {"sex": [], "age_band": [], "score": [], "approved": [],
                                 "repaid": []}  # fmt: skip
    for sex, count in (("F", n), ("M", n), ("X", 6)):
        p = rate.get(sex, 0.5)
        score = rng.uniform(0, 1, count) * 0.5 + np.where(rng.uniform(0, 1, count) < p, 0.5, 0)
        out["sex"] += [sex] * count
        out["age_band"] += rng.choice(["<30", "30+"], count).tolist()
        out["score"] += [f"{s:.4f}" for s in score]
        out["approved"] += [int(s >= 0.5) for s in score]
        out["repaid"] += [int(s >= 0.5) if rng.uniform() < 0.9 else int(s < 0.5) for s in score]
    return out


def test_fairness_flags_a_group_below_four_fifths_and_exits_1(bare: Cli, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "decisions.csv", decisions(200, {"F": 0.25, "M": 0.6}, seed=1))
    args = ("fairness", str(data), "--y-true", "repaid", "--y-pred", "approved",
            "--sensitive", "sex,age_band")  # fmt: skip
    result = bare.bare(*args)
    assert result.code == 1, result
    assert result.err == ""
    out = result.out
    assert "below 4/5" in out
    assert "four-fifths rule: FAILED for sex=F (" in out
    assert "sex=X" in out
    assert "too small" in out
    assert "sex=F & age_band=<30" in out  # intersections
    assert "equalized-odds difference" in out
    result = bare.bare(*args, "--json")
    assert result.code == 1
    report = orjson.loads(result.out)
    f = next(g for g in report["groups"] if g["group"] == "sex=F")
    assert f["impact_ratio"] < 0.8
    assert f["four_fifths_ok"] is False
    x = next(g for g in report["groups"] if g["group"] == "sex=X")
    assert (x["too_small"], x["impact_ratio"], x["size"]) == (True, None, 6)
    assert report["four_fifths_ok"] is False
    assert report["too_small"]
    # the same decisions as scores and a threshold
    scored = bare.bare("fairness", str(data), "--y-true", "repaid", "--score", "score",
                       "--threshold", "0.5", "--sensitive", "sex", "--json")  # fmt: skip
    assert scored.code == 1
    assert orjson.loads(scored.out)["groups"][0] == report["groups"][0]


def test_fairness_of_balanced_decisions_passes(bare: Cli, tmp_path: Path) -> None:
    cols = decisions(300, {"F": 0.5, "M": 0.5}, seed=2)
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    table = {k: (np.asarray(v, dtype=float) if k == "score" else v) for k, v in cols.items()}
    pq.write_table(pa.table(table), tmp_path / "decisions.parquet")
    result = bare.bare("fairness", str(tmp_path / "decisions.parquet"), "--y-pred", "approved",
                       "--sensitive", "sex", "--min-group", "50")  # fmt: skip
    assert result.code == 0, result
    assert "four-fifths rule: passed" in result.out
    assert "TPR" in result.out  # no labels: rates left empty
    result = bare.bare("fairness", str(tmp_path / "decisions.parquet"), "--y-pred", "approved",
                       "--sensitive", "sex", "--min-group", "1000")  # fmt: skip
    assert result.code == 0, result
    assert "four-fifths rule: not judged" in result.out


def test_fairness_refuses_what_it_cannot_measure(bare: Cli, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", {"sex": ["F", "M", "M"], "approved": [1, 0, 2],
                                          "score": ["0.1", "", "0.9"]})  # fmt: skip
    expect_error(bare.bare("fairness", str(data), "--y-pred", "approved", "--sensitive", "sx"),
                 "no column 'sx'", "did you mean 'sex'?")  # fmt: skip
    expect_error(bare.bare("fairness", str(data), "--sensitive", "sex"), "--y-pred", "--score")
    expect_error(bare.bare("fairness", str(data), "--y-pred", "approved", "--score", "score",
                           "--sensitive", "sex"), "--y-pred COLUMN or as --score")  # fmt: skip
    expect_error(bare.bare("fairness", str(data), "--y-pred", "approved", "--sensitive", "sex"),
                 "column 'approved' holds 0, 1, 2", "binary")  # fmt: skip
    expect_error(bare.bare("fairness", str(data), "--score", "score", "--sensitive", "sex"),
                 "column 'score' has 1 empty cell(s)")  # fmt: skip
    expect_error(bare.bare("fairness", str(data), "--y-pred", "approved", "--sensitive", ","),
                 "--sensitive must name")  # fmt: skip
