"""The HTML drift report: self-contained and small."""

from __future__ import annotations

import numpy as np

from tether.monitoring import Baseline, Profile, html_report


def test_a_report_for_100_features_is_self_contained_and_under_a_megabyte() -> None:
    rng = np.random.default_rng(31)
    ref = {f"f{i}": rng.normal(0, 1, 3_000) for i in range(90)}
    ref.update({f"c{i}": rng.choice(["a", "b", "c", "d"], 3_000) for i in range(10)})
    base = Baseline.build(ref, window_size=1_000)
    cur = {f"f{i}": rng.normal(1.0, 1, 1_000) for i in range(90)}  # every numeric one moved
    cur.update({f"c{i}": rng.choice(["a", "b", "c", "d"], 1_000, p=[0.7, 0.1, 0.1, 0.1])
                for i in range(10)})  # fmt: skip
    window = Profile.build(cur, reference=base.profile)
    report = base.check(window)
    assert len(report.drifted()) == 100
    page = html_report(base, report, window, title="100 features")
    assert len(page.encode()) < 1_000_000
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert page.count("<svg") >= 100 + 100  # a bar per check and a chart per drifted feature
