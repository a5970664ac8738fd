"""A self-contained HTML drift report: inline SVG, no script, no CDN, no network.

Per feature: each statistic against its threshold; for drifted features, the
reference and current distributions over the reference's bins; the data-quality
findings; with a history of windows, each feature's drift (its worst statistic over its
threshold) per window, and performance metrics per window. The same content is
available as JSON (``DriftReport.to_dict``, ``WindowMetrics``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from tether.monitoring._baseline import Baseline, DriftReport, FeatureDrift
from tether.monitoring._profile import NumericColumn, Profile

if TYPE_CHECKING:
    from tether.monitoring._feedback import WindowMetrics

__all__ = ["html_report"]

_COLOURS = {"none": "#3b7d3b", "low": "#b58900", "medium": "#cb4b16", "high": "#dc322f"}
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse}
td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
.sev{font-weight:600}.muted{color:#777}svg{display:block;margin:.3em 0 1em}
"""


def html_report(
    baseline: Baseline,
    report: DriftReport,
    window: Profile | None = None,
    *,
    title: str = "",
    history: Sequence[tuple[str, DriftReport]] = (),
    performance: Sequence[WindowMetrics] = (),
) -> str:
    """Render ``report`` (of ``window`` against ``baseline``) as one HTML document;
    ``history`` (window label, report), oldest first, adds drift over windows, and
    ``performance`` adds metrics over windows.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> base = Baseline.build({"x": rng.normal(0, 1, 5_000)}, window_size=1_000)
        >>> current = Profile.build({"x": rng.normal(1, 1, 1_000)}, reference=base.profile)
        >>> page = html_report(base, base.check(current), current)
        >>> page.startswith("<!doctype html>"), "<script" in page, "http" in page
        (True, False, False)
    """
    d = report.dataset
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>{html.escape(title or 'tether drift report')}</title><style>{_STYLE}</style>",
        f"<h1>{html.escape(title or 'Drift report')}</h1>",
        f"<p class=muted>{report.rows:,} rows in the window, windows of "
        f"{baseline.window_size:,} rows calibrated on {baseline.profile.rows:,} reference rows; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>",
        f"<p><b>{len(d.drifted)} of {len(report.features)} features drifted</b> "
        f"({d.share_drifted:.0%}); dataset drift: <b>{'yes' if d.is_drift else 'no'}</b></p>",
        "<h2>Features</h2><table><tr><th>feature</th><th>kind</th><th>statistic</th>"
        "<th>value / threshold</th><th>severity</th></tr>",
    ]
    for f in sorted(report.features, key=lambda f: (not f.drifted, f.feature)):
        for i, c in enumerate(f.checks):
            name = html.escape(f.feature) if i == 0 else ""
            parts.append(
                f"<tr><td>{name}</td><td>{f.kind if i == 0 else ''}</td><td>{c.statistic}</td>"
                f"<td>{_bar(c.value, c.threshold)}</td>"
                f"<td class=sev style='color:{_COLOURS[c.severity]}'>{c.severity}</td></tr>"
            )
    parts.append("</table>")
    if window is not None and report.drifted():
        parts.append("<h2>Distributions of drifted features</h2>")
        for f in report.drifted():
            parts.append(_distribution(baseline, window, f))
    if report.quality:
        parts.append("<h2>Data quality</h2><table><tr><th>column</th><th>finding</th>"
                     "<th>detail</th></tr>")  # fmt: skip
        for q in report.quality:
            parts.append(f"<tr><td>{html.escape(q.column)}</td><td>{q.kind}</td>"
                         f"<td>{html.escape(q.detail)}</td></tr>")  # fmt: skip
        parts.append("</table>")
    if len(history) > 1:
        parts.append(_history(history))
    if performance:
        parts.append(_performance(performance))
    parts.append("</html>")
    return "".join(parts)


def _history(history: Sequence[tuple[str, DriftReport]]) -> str:
    """Each feature's worst statistic over its threshold, per window (1 = threshold)."""
    features = sorted({f.feature for _, r in history for f in r.features})
    labels = [label for label, _ in history]
    rows = ["<h2>Drift over windows</h2><p class=muted>value / threshold of each feature's "
            "worst statistic; the dashed line is the threshold. Windows: "
            + "; ".join(f"{i + 1}: {html.escape(s)}" for i, s in enumerate(labels))
            + "</p><table>"]  # fmt: skip
    for name in features:
        ratios = []
        for _, r in history:
            f = next((f for f in r.features if f.feature == name), None)
            w = None if f is None else f.worst
            ratios.append(w.value / w.threshold if w is not None and w.threshold else math.nan)
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{_line(ratios, 1.0)}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _performance(windows: Sequence[WindowMetrics]) -> str:
    names = sorted({m for w in windows for m in w.metrics})
    rows = ["<h2>Performance over windows</h2><table>"]
    for name in names:
        values = [w.metrics.get(name, math.nan) for w in windows]
        last = values[-1]
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{_line(values, None)}</td>"
                    f"<td>{last:.3f}</td></tr>")  # fmt: skip
    rows.append("</table>")
    return "".join(rows)


def _line(values: Sequence[float], threshold: float | None) -> str:
    """A small inline SVG line chart (NaN leaves a gap); ``threshold`` as a dashed line."""
    finite = [v for v in values if math.isfinite(v)]
    top = max([*finite, threshold or 0.0, 1e-9]) * 1.15
    lo = 0.0 if threshold is not None else min([*finite, 0.0])
    width, height, n = 260, 48, max(len(values) - 1, 1)

    def y(v: float) -> float:
        return height - 4 - (height - 8) * (v - lo) / ((top - lo) or 1.0)

    points = [f"{10 + 240 * i / n:.1f},{y(v):.1f}" for i, v in enumerate(values)
              if math.isfinite(v)]  # fmt: skip
    dots = "".join(
        f"<circle cx={10 + 240 * i / n:.1f} cy={y(v):.1f} r=2.5 "
        f"fill={_COLOURS['high'] if threshold is not None and v > threshold else '#268bd2'}>"
        f"<title>window {i + 1}: {v:.3g}</title></circle>"
        for i, v in enumerate(values) if math.isfinite(v)
    )  # fmt: skip
    rule = "" if threshold is None else (
        f"<line x1=10 x2=250 y1={y(threshold):.1f} y2={y(threshold):.1f} stroke=#222 "
        "stroke-dasharray='4 3' />"
    )  # fmt: skip
    return (f"<svg width={width} height={height} role=img>{rule}<polyline fill=none "
            f"stroke=#268bd2 points='{' '.join(points)}' />{dots}</svg>")  # fmt: skip


def _bar(value: float, threshold: float) -> str:
    """An inline SVG bar: the value against its threshold (a tick)."""
    top = max(value, threshold) * 1.25 or 1.0
    w, t = 180 * min(value / top, 1.0), 180 * threshold / top
    colour = _COLOURS["high"] if value > threshold else _COLOURS["none"]
    return (
        f"<svg width=250 height=16 role=img aria-label='{value:.4g} against {threshold:.4g}'>"
        f"<rect width=180 height=12 y=2 fill=#eee /><rect width={w:.1f} height=12 y=2 "
        f"fill={colour} /><rect x={t:.1f} width=2 height=16 fill=#222 />"
        f"<text x=186 y=12 font-size=11>{value:.3g} / {threshold:.3g}</text></svg>"
    )


def _distribution(baseline: Baseline, window: Profile, f: FeatureDrift) -> str:
    ref, cur = baseline.profile[f.feature], window[f.feature]
    r = ref.counts / max(ref.counts.sum(), 1)
    c = cur.counts / max(cur.counts.sum(), 1)
    if isinstance(ref, NumericColumn):
        labels = ["≤ " + f"{e:.3g}" for e in ref.edges] + [f"> {ref.edges[-1]:.3g}"]
    else:
        labels = [*ref.categories, "other"]
    top = float(max(r.max(), c.max(), 1e-9))
    bw, gap, height = 16, 10, 120
    width = len(labels) * (2 * bw + gap) + 20
    bars = []
    for i, (a, b) in enumerate(zip(r, c, strict=True)):
        x = 10 + i * (2 * bw + gap)
        ha, hb = height * a / top, height * b / top
        bars.append(
            f"<rect x={x} y={height - ha:.1f} width={bw} height={ha:.1f} fill=#93a1a1>"
            f"<title>reference {a:.1%}</title></rect>"
            f"<rect x={x + bw} y={height - hb:.1f} width={bw} height={hb:.1f} fill=#268bd2>"
            f"<title>current {b:.1%}</title></rect>"
            f"<text x={x} y={height + 14} font-size=9>{html.escape(str(labels[i]))[:10]}</text>"
        )
    legend = ("<span style='color:#93a1a1'>■ reference</span> "
              "<span style='color:#268bd2'>■ current</span>")  # fmt: skip
    shift = float(np.abs(r - c).max())
    return (
        f"<h3>{html.escape(f.feature)} <small class=muted>({f.severity}; largest bin "
        f"change {shift:.1%})</small></h3>{legend}"
        f"<svg width={width} height={height + 20}>{''.join(bars)}</svg>"
    )
