"""Server-side SVG line charts: geometry, thresholds, breaches, gaps, escaping."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.server.console._charts import Series, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # our own output


def circles(root: ET.Element, kind: str | None = None) -> list[ET.Element]:
    return [c for c in root.iter(f"{SVG}circle") if kind is None or c.get("class") == kind]


def threshold_ys(root: ET.Element) -> set[float]:
    (path,) = [p for p in root.iter(f"{SVG}path") if p.get("class") == "threshold"]
    numbers = (path.get("d") or "").replace("M", " ").replace("L", " ").split()
    return {float(y) for y in numbers[1::2]}


def test_the_threshold_line_is_at_the_height_of_a_point_with_the_threshold_value() -> None:
    svg = line_chart("psi", ["a", "b", "c", "d"], [Series("psi", [0.0, 0.3, 0.1, 0.05])],
                     threshold=0.1, floor=0.0)  # fmt: skip
    root = parse(svg)
    at_threshold = circles(root)[2]  # the value 0.1
    assert threshold_ys(root) == {float(at_threshold.get("cy", "nan"))}
    lowest = circles(root)[0]  # 0.0 sits on the x axis: the bottom of the plot
    (axis,) = [ln for ln in root.iter(f"{SVG}line") if ln.get("y1") == ln.get("y2") == "160"]
    assert float(lowest.get("cy", "nan")) == float(axis.get("y1", "nan"))


def test_breaches_are_marked_and_named_in_their_tooltips() -> None:
    svg = line_chart("psi of income", ["w1", "w2", "w3", "w4"],
                     [Series("psi", [0.05, 0.3, 0.1, 0.25])], threshold=0.2)  # fmt: skip
    root = parse(svg)
    hot = circles(root, "breach")
    assert [c.findtext(f"{SVG}title") for c in hot] == [
        "w2: psi 0.3 (threshold 0.2, breached)",
        "w4: psi 0.25 (threshold 0.2, breached)",
    ]
    assert all(float(c.get("cy", "0")) < min(threshold_ys(root)) for c in hot)  # above the line
    assert len(circles(root, "point")) == 2
    assert root.get("aria-label") == (
        "psi of income: 4 windows, latest psi 0.25 (threshold 0.2); 2 above the threshold, "
        "last in w4"
    )


def test_below_breaches_for_metrics_that_must_stay_high() -> None:
    svg = line_chart("accuracy", ["a", "b"], [Series("accuracy", [0.9, 0.7])], threshold=0.8,
                     breach="below")  # fmt: skip
    assert [c.findtext(f"{SVG}title") for c in circles(parse(svg), "breach")] == [
        "b: accuracy 0.7 (threshold 0.8, breached)"
    ]


def test_a_threshold_per_window_is_a_step_line() -> None:
    svg = line_chart("x", ["a", "b", "c"], [Series("x", [1.0, 1.0, 1.0])],
                     threshold=[2.0, 2.0, 4.0], floor=0.0)  # fmt: skip
    root = parse(svg)
    assert len(threshold_ys(root)) == 2
    assert not circles(root, "breach")


def test_missing_values_leave_gaps_and_are_not_drawn() -> None:
    svg = line_chart("x", ["a", "b", "c", "d", "e"],
                     [Series("x", [1.0, None, math.nan, 2.0, math.inf])])  # fmt: skip
    root = parse(svg)
    (line,) = [p for p in root.iter(f"{SVG}path") if p.get("class") == "series"]
    assert (line.get("d") or "").count("M") == 2  # two segments: before and after the gap
    assert len(circles(root)) == 2


@pytest.mark.parametrize("values", [[], [None], [math.nan, None]])
def test_no_points_says_no_data(values: list[float | None]) -> None:
    root = parse(line_chart("empty", ["a"] * len(values), [Series("x", values)], threshold=1.0))
    assert "no data" in "".join(root.itertext())
    assert not circles(root)


def test_one_point_and_a_constant_series_are_drawn_in_the_middle() -> None:
    one = parse(line_chart("one", ["only"], [Series("x", [3.0])], threshold=3.0))
    (dot,) = circles(one)
    assert float(dot.get("cx", "0")) == pytest.approx((58 + 600 - 14) / 2)
    assert threshold_ys(one) == {float(dot.get("cy", "nan"))}
    flat = parse(line_chart("flat", ["a", "b", "c"], [Series("x", [0.0, 0.0, 0.0])], floor=0.0))
    ys = {c.get("cy") for c in circles(flat)}
    assert len(ys) == 1  # a constant series is a flat line inside the plot
    assert 30 <= float(ys.pop() or "nan") <= 160


def test_labels_and_titles_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    svg = line_chart(evil, [evil], [Series(evil, [1.0])], threshold=0.5, y_label=evil)
    assert "<script" not in svg
    root = parse(svg)  # still well-formed
    assert evil in "".join(root.itertext())
    assert evil in (root.get("aria-label") or "")


def test_many_windows_draw_only_breach_markers_and_at_most_five_x_ticks() -> None:
    values = [0.1] * 999 + [0.9]
    root = parse(line_chart("x", [f"w{i}" for i in range(1000)], [Series("x", values)],
                            threshold=0.5))  # fmt: skip
    assert [c.get("class") for c in circles(root)] == ["breach"]
    ticks = [t.text for t in root.iter(f"{SVG}text") if (t.text or "").startswith("w")]
    assert ticks == ["w0", "w250", "w500", "w750", "w999"]


def test_a_second_series_gets_a_legend() -> None:
    lines = [Series("accuracy", [0.9, 0.8]), Series("estimated", [0.85, 0.8], dashed=True)]
    legend = [t.text for t in parse(line_chart("perf", ["a", "b"], lines)).iter(f"{SVG}text")]
    assert {"accuracy", "estimated"} <= set(legend)


@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
                max_size=30),
       st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))  # fmt: skip
def test_any_series_renders_well_formed_svg_inside_its_box(
    values: list[float | None], threshold: float | None
) -> None:
    root = parse(line_chart("t", [str(i) for i in range(len(values))], [Series("v", values)],
                            threshold=threshold))  # fmt: skip
    for c in circles(root):
        assert 0 <= float(c.get("cx", "-1")) <= 600
        assert 0 <= float(c.get("cy", "-1")) <= 200


def test_values_near_the_largest_float_are_gaps_not_errors() -> None:
    svg = line_chart("t", ["a", "b", "c"], [Series("v", [1e308, 1.7e308, 0.5])], threshold=1.0)
    assert len(circles(parse(svg))) == 1  # only 0.5 is drawn


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    ticks = nice_ticks(0.013, 0.87)
    assert (ticks[0], ticks[-1]) == (0.0, 1.0)
    assert {round(b - a, 9) for a, b in itertools.pairwise(ticks)} == {0.25}
