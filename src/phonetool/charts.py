"""A job's summary as charts for its page: SVG drawn here, so the page needs no charting
library and no build step, and an ``<img>`` shows it (the CSP allows images from here).

Horizontal bars, largest first: they hold long labels (provinces, reasons) in both
scripts and stay readable at any count, where a pie of 34 provinces would not.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

#: The charts a finished job has, by the name in their address, with their summary key
#: and title. "numbers" is built from three counts.
CHARTS: dict[str, tuple[str, str]] = {
    "numbers": ("", "Numbers"),
    "invalid_reasons": ("invalid_reasons", "Why numbers are invalid"),
    "provinces": ("by_province", "Valid numbers by province"),
    "carriers": ("by_carrier", "Valid numbers by carrier"),
    "types": ("by_type", "Valid numbers by type"),
}
MAX_BARS = 40  # every province of China fits; more is grouped as "other"
_COLOURS = {"valid": "#1e8449", "invalid": "#c0392b", "masked": "#7a8599"}
_BAR = "#2f6fdf"
_WIDTH, _LABEL, _ROW, _TOP = 640, 190, 24, 34


class NoSuchChart(LookupError):
    pass


def items_for(name: str, summary: dict[str, Any]) -> list[tuple[str, int]]:
    """The labelled counts a chart shows, largest first."""
    if name not in CHARTS:
        raise NoSuchChart(name)
    if name == "numbers":
        return [(k, int(summary.get(k, 0))) for k in ("valid", "invalid", "masked")]
    counts = summary.get(CHARTS[name][0]) or {}
    ranked = sorted(((_label(name, k), int(v)) for k, v in counts.items()), key=lambda kv: -kv[1])
    if len(ranked) > MAX_BARS:
        rest = sum(v for _, v in ranked[MAX_BARS - 1 :])
        ranked = [*ranked[: MAX_BARS - 1], ("other", rest)]
    return ranked


def _label(chart_name: str, key: object) -> str:
    """The summary counts numbers with no province under their country's code."""
    text = str(key)
    if chart_name == "provinces" and text == "CN":
        return "中国 (省份未知) China, province unknown"
    return text


def bar_chart(title: str, items: list[tuple[str, int]]) -> str:
    """An SVG bar chart of ``items``; every text escaped."""
    height = _TOP + _ROW * max(len(items), 1) + 10
    largest = max([v for _, v in items] + [1])
    span = _WIDTH - _LABEL - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}"'
        f' viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="{escape(title)}"'
        " font-family=\"system-ui, 'Noto Sans CJK SC', 'PingFang SC', sans-serif\""
        ' font-size="13">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="18" font-size="15" font-weight="600">{escape(title)}</text>',
    ]
    if not items:
        parts.append(f'<text x="0" y="{_TOP + 16}" fill="#7a8599">none</text>')
    for index, (label, value) in enumerate(items):
        y = _TOP + index * _ROW
        length = round(span * value / largest)
        colour = _COLOURS.get(label, _BAR)
        parts += [
            f'<g class="bar" data-label="{escape(label)}" data-value="{value}">',
            f'<text x="{_LABEL - 8}" y="{y + 16}" text-anchor="end">{escape(label)}</text>',
            f'<rect x="{_LABEL}" y="{y + 4}" width="{max(length, 1)}" height="{_ROW - 8}"'
            f' fill="{colour}"/>',
            f'<text x="{_LABEL + max(length, 1) + 6}" y="{y + 16}">{value:,}</text>',
            "</g>",
        ]
    parts.append("</svg>")
    return "".join(parts)


def chart(name: str, summary: dict[str, Any]) -> str:
    items = items_for(name, summary)  # raises NoSuchChart for a name not in CHARTS
    return bar_chart(CHARTS[name][1], items)
