"""``tether monitor``: profiles, baselines and drift from files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import orjson
import pytest

from tether import Settings

from .harness import Cli, expect_error


@pytest.fixture
def bare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    return Cli(Settings(home=tmp_path / "unused"), capsys, monkeypatch)


def write_csv(path: Path, n: int, shift: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["income", "channel"])
        for income, channel in zip(rng.normal(50 + shift, 10, n),
                                   rng.choice(["web", "app"], n), strict=True):  # fmt: skip
            w.writerow([f"{income:.3f}", channel])
    return path


def test_baseline_then_drift(bare: Cli, tmp_path: Path) -> None:
    ref = write_csv(tmp_path / "ref.csv", 20_000, 0.0, 1)
    quiet = write_csv(tmp_path / "quiet.csv", 2_000, 0.0, 2)
    moved = write_csv(tmp_path / "moved.csv", 2_000, 5.0, 3)
    base = tmp_path / "baseline.json"
    out = bare.bare("monitor", "baseline", str(ref), "--window-size", "2000", "-o", str(base))
    assert out.code == 0, out
    assert "baseline of 20,000 rows, 2 columns" in out.out
    result = bare.bare("monitor", "drift", str(base), str(quiet))
    assert result.code == 0, result
    assert "0 of 2 features drifted" in result.out
    page = tmp_path / "report.html"
    result = bare.bare("monitor", "drift", str(base), str(moved), "--report", str(page))
    assert result.code == 0, result
    text = page.read_text(encoding="utf-8")
    assert "1 of 2 features drifted" in text
    assert "<script" not in text
    assert "http" not in text  # no CDN, no remote anything
    assert len(text) < 1_000_000
    result = bare.bare("monitor", "drift", str(base), str(moved), "--json")
    report = orjson.loads(result.out)
    assert report["dataset"]["drifted"] == ["income"]
    result = bare.bare("monitor", "drift", str(ref), str(moved))  # data as the reference
    assert "1 of 2 features drifted" in result.out
    prof = tmp_path / "profile.json"
    assert bare.bare("monitor", "profile", str(ref), "-o", str(prof)).code == 0
    line = expect_error(bare.bare("monitor", "drift", str(prof), str(moved)), "is a profile")
    assert "tether monitor baseline" in line


def test_bad_files_get_one_clear_error(bare: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("a,b\n1,2\n3\n", encoding="utf-8")
    expect_error(bare.bare("monitor", "profile", str(broken), "-o", str(tmp_path / "p.json")),
                 "broken.csv:3: expected 2 fields, found 1")  # fmt: skip
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    expect_error(bare.bare("monitor", "profile", str(empty), "-o", str(tmp_path / "p.json")),
                 "the file is empty")  # fmt: skip
    expect_error(bare.bare("monitor", "profile", str(tmp_path / "nope.csv"), "-o", "x.json"),
                 "no such file")  # fmt: skip
    one = tmp_path / "one.csv"
    one.write_text("a\n1\n", encoding="utf-8")
    expect_error(bare.bare("monitor", "baseline", str(one), "-o", str(tmp_path / "b.json")),
                 "at least 60 reference rows")  # fmt: skip


def test_set_baseline_then_watch_a_system(cli: Cli, tmp_path: Path) -> None:
    from tests.monitoring.test_watch import record
    from tests.pipeline.conftest import setup_governance

    from tether import Tether

    cli.ok("init")
    ref = tmp_path / "ref.csv"
    rng = np.random.default_rng(1)
    with ref.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["income", "context.amount"])
        w.writerows(zip(rng.normal(50, 15, 6_000), rng.gamma(2.0, 500.0, 6_000), strict=True))
    with Tether.open(cli.settings) as t:
        setup_governance(t)
    expect_error(cli("monitor", "watch", "loan-model"), "has no monitoring baseline")
    out = cli.ok("monitor", "set-baseline", "loan-model", str(ref), "--window-size", "200",
                 "--action", "predict", "--actor", "user:root", "--reason", "v1")  # fmt: skip
    assert "baseline for loan-model: 2 features, windows of 200 decisions, with anomaly" in out
    expect_error(cli("monitor", "watch", "loan-model"), "no recorded decisions of 'loan-model'")
    with Tether.open(cli.settings) as t:
        record(t, 200)
        record(t, 200, shift=20.0, seed=3)
    out = cli.ok("monitor", "watch", "loan-model", "--windows", "2")
    lines = [line for line in out.splitlines() if "decisions" in line and "(200)" in line]
    assert len(lines) == 2
    assert "income" not in lines[0]
    assert "income (" in lines[1]
    assert "active signals for loan-model:" in out
    assert "drift" in out.split("active signals for loan-model:")[1]
    page = tmp_path / "watch.html"
    cli.ok("monitor", "watch", "loan-model", "--no-emit", "--report", str(page))
    text = page.read_text(encoding="utf-8")
    assert "Drift over windows" in text
    assert "Distributions of drifted features" in text
    data = orjson.loads(cli.ok("monitor", "watch", "loan-model", "--json", "--no-emit"))
    assert [r["window"]["n"] for r in data["reports"]] == [200, 200]
    assert data["reports"][1]["drift"]["dataset"]["drifted"] == ["income"]


def test_drift_over_windows_of_a_file(bare: Cli, tmp_path: Path) -> None:
    ref = write_csv(tmp_path / "ref.csv", 20_000, 0.0, 1)
    current = tmp_path / "current.csv"
    rng = np.random.default_rng(9)
    with current.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "income", "channel"])
        for hour, shift in enumerate([0.0, 0.0, 5.0]):  # the third hour moved
            for i in range(1_000):
                w.writerow([1_800_000_000 + hour * 3600 + i, f"{rng.normal(50 + shift, 10):.3f}",
                            rng.choice(["web", "app"])])  # fmt: skip
    base = tmp_path / "baseline.json"
    bare.bare("monitor", "baseline", str(ref), "--window-size", "1000", "-o", str(base))
    by_rows = bare.bare("monitor", "drift", str(base), str(current), "--rows", "1000", "--json")
    assert by_rows.code == 0, by_rows
    reports = orjson.loads(by_rows.out)
    # the ts column is not in the baseline: a schema finding in every window
    assert [r["dataset"]["drifted"] for r in reports] == [[], [], ["income"]]
    page = tmp_path / "hours.html"
    by_time = bare.bare("monitor", "drift", str(base), str(current), "--every", "3600",
                        "--time-column", "ts", "--report", str(page))  # fmt: skip
    assert by_time.code == 0, by_time
    assert by_time.out.count("2027-01-15") == 3
    assert "Drift over windows" in page.read_text(encoding="utf-8")
    expect_error(bare.bare("monitor", "drift", str(base), str(current), "--every", "60"),
                 "windows by time need a time column")  # fmt: skip
