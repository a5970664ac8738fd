"""Data quality of a window against its reference."""

from __future__ import annotations

import numpy as np

from tether.monitoring import Profile, check_quality


def test_quality_findings_name_the_column_and_the_rates() -> None:
    rng = np.random.default_rng(5)
    ref_batch = {
        "age": rng.integers(18, 90, 2000).astype(float),
        "income": rng.lognormal(10, 0.5, 2000),
        "channel": rng.choice(["web", "app"], 2000),
    }
    ref = Profile.build(ref_batch)
    window_batch = {
        "age": np.array([30.0, 150.0, 40.0, np.nan, np.nan, 200.0, 35.0, 36.0, 37.0, 38.0]),
        "income": np.array(["high"] * 10, dtype=object),  # retyped: arrives as text
        "channel": np.array(["web", "fax", "fax", "app", "web", "app", "web", "app", "web", "x"]),
        "new_field": np.arange(10),
    }
    window = Profile.build(window_batch, reference=ref)
    found = {(i.column, i.kind): i for i in check_quality(ref, window, raw=window_batch)}
    assert set(found) == {
        ("new_field", "column_added"),
        ("income", "column_retyped"),
        ("income", "type_errors"),
        ("age", "missing_rate"),
        ("age", "out_of_range"),
        ("channel", "unseen_categories"),
    }
    assert found[("age", "missing_rate")].value == 0.2
    assert found[("age", "out_of_range")].value == 2 / 8
    assert found[("channel", "unseen_categories")].value == 0.3


def test_a_clean_window_has_no_findings_and_a_removed_column_is_reported() -> None:
    rng = np.random.default_rng(6)
    ref = Profile.build({"x": rng.normal(0, 1, 5000), "y": rng.choice(["a", "b"], 5000)})
    batch = {"x": rng.normal(0, 1, 1000) * 0.5, "y": rng.choice(["a", "b"], 1000)}
    assert check_quality(ref, Profile.build(batch, reference=ref), raw=batch) == []
    only_x = {"x": batch["x"]}
    issues = check_quality(ref, Profile.build(only_x, reference=ref), raw=only_x)
    assert [(i.column, i.kind) for i in issues] == [("y", "column_removed")]
