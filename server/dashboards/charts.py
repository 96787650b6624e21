"""Tiny server-side SVG charts: a progress bar with an expected-to-date marker, and bars with a line.

No JavaScript: the SVG is part of the page, scales with its container (viewBox, width 100 %), works
offline from the service worker's cache and prints. Each chart is role="img" with a <title> and a
<desc>; the page always shows the same numbers in an HTML table beside it.
"""

from __future__ import annotations

from markupsafe import Markup, escape


def _n(value: float) -> str:
    """A coordinate: short and locale-independent."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def progress(share: float | None, expected: float | None, *, status: str = "", title: str = "",
             desc: str = "") -> Markup:
    """A horizontal bar: the filled part is `share` (actual / target, drawn up to 100 %, a notch shows
    beyond), a vertical marker at `expected` (expected-to-date / target). Shares are 0..1 or more."""
    width, height = 100.0, 12.0
    fill = max(0.0, min(1.0, share or 0.0)) * width
    parts = [
        f'<svg class="progress status-{escape(status)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'preserveAspectRatio="none" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if desc:
        parts.append(f"<desc>{escape(desc)}</desc>")
    parts.append(f'<rect class="track" x="0" y="2" width="{_n(width)}" height="8" rx="2"/>')
    parts.append(f'<rect class="fill" x="0" y="2" width="{_n(fill)}" height="8" rx="2"/>')
    if share is not None and share > 1:
        parts.append(f'<rect class="over" x="{_n(width - 2)}" y="0" width="2" height="{_n(height)}"/>')
    if expected is not None:
        x = max(0.0, min(1.0, expected)) * width
        parts.append(f'<rect class="marker" x="{_n(max(0.0, x - 0.6))}" y="0" width="1.2" height="{_n(height)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars_and_line(labels: list[str], bars: list[float | None], line: list[float | None], *, title: str,
                  desc: str = "", bar_label: str = "", line_label: str = "", peak: float | None = None) -> Markup:
    """Bars (actuals) with a line (targets) over the same categories, y axis from 0 to the largest value
    (or to `peak`, e.g. 100 for scores out of 100). Missing line values break the line. Axis labels are
    the short category labels (every other one when there are many, so a 360 px phone still reads them)."""
    count = max(1, len(labels))
    width, height = 320.0, 180.0
    left, right, top, bottom = 4.0, 4.0, 14.0, 22.0
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for v in [*bars, *line] if v is not None and v > 0]
    if peak is None or peak <= 0:
        peak = max(values) if values else 1.0
    slot = plot_w / count

    def y(value: float) -> float:
        return top + plot_h - max(0.0, value) / peak * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {_n(width)} {_n(height)}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if desc:
        parts.append(f"<desc>{escape(desc)}</desc>")
    parts.append(f'<line class="axis" x1="{_n(left)}" y1="{_n(top + plot_h)}" x2="{_n(width - right)}" '
                 f'y2="{_n(top + plot_h)}"/>')
    for i, value in enumerate(bars):
        if value is None:
            continue
        x = left + i * slot + slot * 0.15
        h = max(0.0, top + plot_h - y(value))
        parts.append(f'<rect class="bar" x="{_n(x)}" y="{_n(top + plot_h - h)}" width="{_n(slot * 0.7)}" '
                     f'height="{_n(h)}"><title>{escape(labels[i])}: {escape(bar_label)}</title></rect>')
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, value in enumerate(line):
        if value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{_n(left + i * slot + slot / 2)},{_n(y(value))}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle class="target" cx="{cx}" cy="{cy}" r="2.5"/>')
        else:
            parts.append(f'<polyline class="target" points="{" ".join(seg)}"/>')
    step = 1 if count <= 6 else 2
    for i, label in enumerate(labels):
        if i % step == 0 or i == count - 1:
            parts.append(f'<text class="label" x="{_n(left + i * slot + slot / 2)}" y="{_n(height - 6)}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    if line_label or bar_label:
        legend = "  ".join(t for t in (f"■ {escape(bar_label)}" if bar_label else "",
                                        f"— {escape(line_label)}" if line_label else "") if t)
        parts.append(f'<text class="legend" x="{_n(left)}" y="10">{legend}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
