"""Small inline SVG charts for reports: no script, no network, readable without CSS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

_PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    low: float | None = None
    high: float | None = None


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    maximum: float | None = None,
    unit: str = "",
    width: int = 560,
) -> str:
    """Horizontal bars with optional interval whiskers (e.g. a Wilson interval)."""
    row, left, right = 26, 180, 70
    top = maximum or max([b.high or b.value for b in bars] + [1e-9])
    span = width - left - right
    height = 30 + row * len(bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for n, bar in enumerate(bars):
        y = 26 + n * row
        length = span * max(0.0, bar.value) / top
        parts.append(f'<text x="4" y="{y + 14}" font-size="12">{escape(bar.label[:28])}</text>')
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="14" '
            f'fill="{_PALETTE[n % len(_PALETTE)]}"/>'
        )
        if bar.low is not None and bar.high is not None:
            x1, x2 = left + span * bar.low / top, left + span * bar.high / top
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y + 10}" x2="{x2:.1f}" y2="{y + 10}" '
                'stroke="#111" stroke-width="1.5"/>'
            )
        parts.append(
            f'<text x="{left + length + 4:.1f}" y="{y + 14}" font-size="11">'
            f"{escape(_fmt(bar.value, unit))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    unit: str = "",
    width: int = 560,
    height: int = 200,
) -> str:
    """Lines over a shared x axis (e.g. a gate's value at each check of a step)."""
    points = [p for values in series.values() for p in values]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    if points:
        x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
        y1 = max(max(p[1] for p in points), 1e-9)
        left, bottom, top_margin, plot_w = 50, height - 20, 28, width - 60
        plot_h = bottom - top_margin

        def at(x: float, y: float) -> str:
            px = left + (plot_w * (x - x0) / (x1 - x0) if x1 > x0 else plot_w / 2)
            return f"{px:.1f},{bottom - plot_h * y / y1:.1f}"

        parts.append(
            f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#999"/>'
        )
        parts.append(
            f'<text x="4" y="{top_margin + 10}" font-size="10">{escape(_fmt(y1, unit))}</text>'
        )
        for n, (name, values) in enumerate(series.items()):
            colour = _PALETTE[n % len(_PALETTE)]
            coords = " ".join(at(x, y) for x, y in values)
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'
            )
            parts.append(
                f'<text x="{left + 8 + 120 * n}" y="{height - 4}" font-size="11" '
                f'fill="{colour}">{escape(name)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.1f}%"
    return f"{value:.3g}{unit}"


def page(title: str, body: str) -> str:
    """A self-contained HTML page (inline style, no external resources)."""
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "vertical-align:top;text-align:left}.diff td{max-width:320px;white-space:pre-wrap}"
        "dt{font-weight:bold}</style></head><body>" + body + "</body></html>"
    )
