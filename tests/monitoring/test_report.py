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


def test_drift_and_performance_over_windows_are_charted() -> None:
    from tether.monitoring import WindowMetrics

    rng = np.random.default_rng(32)
    base = Baseline.build({"x": rng.normal(0, 1, 10_000), "y": rng.normal(0, 1, 10_000)},
                          window_size=1_000)  # fmt: skip
    history = [
        (
            f"window {i}",
            base.check({"x": rng.normal(shift, 1, 1_000), "y": rng.normal(0, 1, 1_000)}),
        )
        for i, shift in enumerate([0.0, 0.0, 0.3, 0.6])
    ]
    metrics = [
        WindowMetrics(i, i + 1, 500, {"accuracy": a}) for i, a in enumerate([0.9, 0.88, 0.7])
    ]
    label, latest = history[-1]
    page = html_report(base, latest, title=label, history=history, performance=metrics)
    assert "Drift over windows" in page
    assert "Performance over windows" in page
    charts = page[page.index("Drift over windows") :]
    x_row = charts[charts.index("<td>x</td>") :].split("</tr>")[0]
    y_row = charts[charts.index("<td>y</td>") :].split("</tr>")[0]
    assert x_row.count("fill=#dc322f") == 2  # the last two windows of x beyond threshold
    assert y_row.count("fill=#dc322f") == 0
    assert "window 3: 0.7" in page  # the third accuracy point's tooltip
    assert "<script" not in page
