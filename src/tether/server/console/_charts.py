"""Line charts as inline SVG, rendered on the server (no JavaScript, no CDN).

:func:`line_chart` draws one or more series over the same x positions (windows, oldest
first) with a title, y ticks and labels, x ticks labelled with the windows' labels, an
optional threshold (a dashed line, constant or per window), and breaches marked: points
of the first series beyond their threshold are larger red dots. Missing values (None,
NaN, infinity) leave gaps. The SVG is well-formed XML, carries ``role="img"``, an
``aria-label`` summarising it and a ``<title>``; every text is escaped. Only
presentation attributes are used, so a strict Content-Security-Policy (no inline
styles) leaves it intact.

Example:
    >>> svg = line_chart("psi of income", ["w1", "w2", "w3"], [Series("psi", [0.1, 0.3, 0.2])],
    ...                  threshold=0.25)
    >>> svg.startswith("<svg"), svg.count('class="breach"'), 'stroke-dasharray' in svg
    (True, 1, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

from markupsafe import Markup

__all__ = ["Series", "line_chart", "nice_ticks"]

BLUE, GREY, RED, INK, GRID = "#1f6fb2", "#7a7a7a", "#c62828", "#333", "#e3e3e3"
COLOURS = (BLUE, "#e07b00", "#6a3d9a", GREY)
_MAX_MARKERS = 150  # beyond this many points only breaches get a dot
_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 14, 30, 40


@dataclass(frozen=True, slots=True)
class Series:
    """One line: a name (for the legend) and a value per window (None: no value)."""

    name: str
    values: Sequence[float | None]
    dashed: bool = False


_LIMIT = 1e300  # beyond it, the axis arithmetic (ranges, padding, ticks) overflows


def _finite(v: float | None) -> float | None:
    """The value to draw, or None (a gap) for a missing, infinite or overflowing one."""
    return float(v) if v is not None and math.isfinite(v) and abs(v) <= _LIMIT else None


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``lo``..``hi``.

    Example:
        >>> nice_ticks(0.0, 0.37)
        [0.0, 0.1, 0.2, 0.3, 0.4]
        >>> nice_ticks(5.0, 5.0)
        [5.0]
    """
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


@dataclass(frozen=True, slots=True)
class _Frame:
    width: int
    height: int
    n: int
    lo: float
    hi: float

    def x(self, i: int) -> float:
        inner = self.width - _LEFT - _RIGHT
        if self.n <= 1:
            return _LEFT + inner / 2
        return _LEFT + inner * i / (self.n - 1)

    def y(self, v: float) -> float:
        inner = self.height - _TOP - _BOTTOM
        return _TOP + inner * (self.hi - v) / (self.hi - self.lo)


def _range(values: list[float], floor: float | None) -> tuple[float, float]:
    """The y range: all values and thresholds, from ``floor`` when given, with room."""
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if floor is not None:
        lo = min(lo, floor)
    if hi == lo:  # a constant series: centre it
        pad = abs(hi) * 0.1 or 1.0
        return lo - pad if floor is None or lo - pad >= floor else lo, hi + pad
    return lo, hi + (hi - lo) * 0.08


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _path(frame: _Frame, values: Sequence[float | None]) -> str:
    """An SVG path through the finite values; a missing value starts a new segment."""
    parts: list[str] = []
    pen_down = False
    for i, v in enumerate(values):
        f = _finite(v)
        if f is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{frame.x(i):.1f} {frame.y(f):.1f}")
        pen_down = True
    return " ".join(parts)


def _threshold_path(frame: _Frame, thresholds: list[float | None]) -> str:
    """A horizontal line when the threshold is constant, else a step per window."""
    known = [t for t in thresholds if t is not None]
    left, right = float(_LEFT), float(frame.width - _RIGHT)
    if len(set(known)) == 1:
        y = frame.y(known[0])
        return f"M{left:.1f} {y:.1f} L{right:.1f} {y:.1f}"
    half = (right - left) / max(frame.n - 1, 1) / 2
    parts: list[str] = []
    previous: float | None = None
    for i, t in enumerate(thresholds):
        if t is None:
            previous = None
            continue
        a, b = max(left, frame.x(i) - half), min(right, frame.x(i) + half)
        y = frame.y(t)
        parts.append(f"{'L' if previous is not None else 'M'}{a:.1f} {y:.1f} L{b:.1f} {y:.1f}")
        previous = t
    return " ".join(parts)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    threshold: float | Sequence[float | None] | None = None,
    breach: Literal["above", "below"] = "above",
    y_label: str = "",
    floor: float | None = None,
    width: int = 600,
    height: int = 200,
) -> Markup:
    """Render ``series`` (a value per window, oldest first) as an inline SVG line chart.

    Args:
        title: Shown above the plot and as the chart's accessible name.
        labels: One label per window (x ticks and each point's tooltip).
        series: The lines; the first is the one judged against ``threshold``.
        threshold: A constant, or one value per window (None: none for that window).
        breach: Whether a point breaches by being ``above`` or ``below`` its threshold.
        y_label: The y axis's label (e.g. the statistic or the metric).
        floor: The lowest y shown at least (0 for rates and distances).
        width: In pixels (the SVG scales down with its container).
        height: In pixels.

    Example:
        >>> svg = line_chart("<b>", [], [Series("x", [])])
        >>> "no data" in svg, "&lt;b&gt;" in svg, "<b>" in svg
        (True, True, False)
    """
    n = max((len(s.values) for s in series), default=0)
    limits: list[float | None]
    if threshold is None:
        limits = [None] * n
    elif isinstance(threshold, int | float):
        limits = [_finite(float(threshold))] * n
    else:
        limits = [_finite(t) for t in threshold] + [None] * max(n - len(threshold), 0)
    points = [f for s in series for v in s.values if (f := _finite(v)) is not None]
    lo, hi = _range(points + [t for t in limits if t is not None], floor)
    frame = _Frame(width, height, n, lo, hi)
    first = series[0].values if series else []
    breaches = [
        i for i, v in enumerate(first)
        if (f := _finite(v)) is not None and (t := limits[i]) is not None
        and (f > t if breach == "above" else f < t)
    ]  # fmt: skip
    summary = _summary(title, series, limits, breaches, labels, breach)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-family="system-ui, sans-serif" '
        f'aria-label="{escape(summary)}"><title>{escape(summary)}</title>',
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="600" fill="{INK}">'
        f"{escape(title)}</text>",
    ]
    out.append(_axes(frame, labels, y_label))
    if not points:
        out.append(
            f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
            f'font-size="12" fill="{GREY}">no data</text></svg>'
        )
        return Markup("".join(out))  # every text in it was escaped
    if any(t is not None for t in limits):
        out.append(
            f'<path class="threshold" d="{_threshold_path(frame, limits)}" fill="none" '
            f'stroke="{INK}" stroke-width="1.2" stroke-dasharray="5 4"/>'
        )
    for k, s in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        dash = ' stroke-dasharray="2 3"' if s.dashed else ""
        out.append(
            f'<path class="series" d="{_path(frame, s.values)}" fill="none" stroke="{colour}" '
            f'stroke-width="1.8"{dash}/>'
        )
        out.append(_markers(frame, s, colour, labels, limits if k == 0 else None, breaches))
    out.append(_legend(frame, series, limits))
    out.append("</svg>")
    return Markup("".join(out))  # every text in it was escaped


def _summary(
    title: str,
    series: Sequence[Series],
    limits: list[float | None],
    breaches: list[int],
    labels: Sequence[str],
    breach: str,
) -> str:
    """The chart in one sentence (its accessible name)."""
    n = max((len(s.values) for s in series), default=0)
    if not n or not series:
        return f"{title}: no data"
    first = series[0].values
    last = next((f for v in reversed(first) if (f := _finite(v)) is not None), None)
    text = f"{title}: {n} window{'s' if n != 1 else ''}"
    if last is not None:
        text += f", latest {series[0].name} {_fmt(last)}"
    current = next((t for t in reversed(limits) if t is not None), None)
    if current is not None:
        text += f" (threshold {_fmt(current)})"
        text += f"; {len(breaches)} {breach} the threshold"
        if breaches and labels and breaches[-1] < len(labels):
            text += f", last in {labels[breaches[-1]]}"
    return text


def _axes(frame: _Frame, labels: Sequence[str], y_label: str) -> str:
    left, right = _LEFT, frame.width - _RIGHT
    top, bottom = _TOP, frame.height - _BOTTOM
    out = [f'<g class="axes" font-size="10" fill="{INK}">']
    for v in nice_ticks(frame.lo, frame.hi):
        if not frame.lo - 1e-12 <= v <= frame.hi + 1e-12:
            continue
        y = frame.y(v)
        out.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 3:.1f}" text-anchor="end">{_fmt(v)}</text>'
        )
    out.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" stroke="{INK}"/>'
        f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{INK}"/>'
    )
    for i in _x_ticks(frame.n):
        x = frame.x(i)
        text = escape(labels[i]) if i < len(labels) else str(i + 1)
        anchor = "end" if frame.n > 1 and i == frame.n - 1 else "middle"  # stays inside
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="{INK}"/>'
            f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="{anchor}">{text}</text>'
        )
    if y_label:
        mid = (top + bottom) / 2
        out.append(
            f'<text x="12" y="{mid:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 12 {mid:.1f})">{escape(y_label)}</text>'
        )
    out.append("</g>")
    return "".join(out)


def _x_ticks(n: int, most: int = 5) -> list[int]:
    """Indices of up to ``most`` x ticks a whole number of windows apart, from the
    first; the last window always gets one (replacing a tick too close to it).

    Example:
        >>> _x_ticks(3), _x_ticks(8), _x_ticks(1000)
        ([0, 1, 2], [0, 2, 4, 6, 7], [0, 250, 500, 750, 999])
    """
    if n <= most:
        return list(range(n))
    step = math.ceil((n - 1) / (most - 1))
    ticks = list(range(0, n - 1, step))
    if len(ticks) > 1 and (n - 1) - ticks[-1] < step / 2:
        ticks.pop()
    return [*ticks, n - 1]


def _markers(
    frame: _Frame,
    s: Series,
    colour: str,
    labels: Sequence[str],
    limits: list[float | None] | None,
    breaches: list[int],
) -> str:
    """A dot per point (only breaches when there are many), each with a tooltip."""
    hot = set(breaches) if limits is not None else set()
    many = len(s.values) > _MAX_MARKERS
    out = []
    for i, v in enumerate(s.values):
        f = _finite(v)
        if f is None or (many and i not in hot):
            continue
        label = labels[i] if i < len(labels) else f"window {i + 1}"
        tip = f"{label}: {s.name} {_fmt(f)}"
        if limits is not None and (t := limits[i]) is not None:
            tip += f" (threshold {_fmt(t)}{', breached' if i in hot else ''})"
        kind, r, fill = ("breach", 4.5, RED) if i in hot else ("point", 2.6, colour)
        out.append(
            f'<circle class="{kind}" cx="{frame.x(i):.1f}" cy="{frame.y(f):.1f}" r="{r}" '
            f'fill="{fill}"><title>{escape(tip)}</title></circle>'
        )
    return "".join(out)


def _legend(frame: _Frame, series: Sequence[Series], limits: list[float | None]) -> str:
    """Names of the series (when more than one) and of the dashed threshold."""
    entries = []
    if len(series) > 1:
        entries = [(s.name, COLOURS[k % len(COLOURS)]) for k, s in enumerate(series)]
    if any(t is not None for t in limits):
        entries.append(("threshold", INK))
    if not entries:
        return ""
    out = [f'<g class="legend" font-size="10" fill="{INK}">']
    x = float(frame.width - _RIGHT)
    for name, colour in reversed(entries):
        x -= 6 * len(name) + 26
        dash = ' stroke-dasharray="5 4"' if colour == INK else ""
        out.append(
            f'<line x1="{x:.0f}" x2="{x + 16:.0f}" y1="12" y2="12" stroke="{colour}" '
            f'stroke-width="2"{dash}/><text x="{x + 20:.0f}" y="16">{escape(name)}</text>'
        )
    out.append("</g>")
    return "".join(out)
