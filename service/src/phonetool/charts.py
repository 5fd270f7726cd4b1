"""A job's summary as charts for its page: SVG drawn here, so the page needs no charting
library and no build step, and an ``<img>`` shows it (the CSP allows images from here).

Horizontal bars, largest first: they hold long labels (provinces, reasons) in both
scripts and stay readable at any count, where a pie of 34 provinces would not.

Titles and the words the summary counts under (outcomes, reasons, number types) are said
in the reader's language, as the page is; places and carriers are shown as the summary
holds them. Each bar keeps its summary key in ``data-label``.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from flask_babel import gettext

from .pipeline.errors import N_
from .pipeline.words import key_words

if TYPE_CHECKING:
    from collections.abc import Callable

#: The charts a finished job has, by the name in their address, with their summary key
#: and title. "numbers" is built from three counts.
CHARTS: dict[str, tuple[str, str]] = {
    "numbers": ("", N_("Numbers")),
    "invalid_reasons": ("invalid_reasons", N_("Why numbers are invalid")),
    "provinces": ("by_province", N_("Valid numbers by province")),
    "carriers": ("by_carrier", N_("Valid numbers by carrier")),
    "types": ("by_type", N_("Valid numbers by type")),
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
    ranked = sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: -kv[1])
    if len(ranked) > MAX_BARS:
        rest = sum(v for _, v in ranked[MAX_BARS - 1 :])
        ranked = [*ranked[: MAX_BARS - 1], ("other", rest)]
    return ranked


#: Room for a label left of the bars, in half-width characters (a Chinese one is two).
_LABEL_ROOM = 28


def words_for(chart_name: str) -> Callable[[str], str]:
    """How ``chart_name``'s keys read in the current language."""
    names = chart_name in ("provinces", "carriers")
    return lambda key: key_words(key, _gettext, names=names)


def _gettext(text: str, **params: Any) -> str:
    return str(gettext(text, **params))


def _fitted(label: str) -> str:
    """``label``, cut with an ellipsis where it would run past the left edge."""
    room = _LABEL_ROOM
    for index, char in enumerate(label):
        room -= 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if room < 1 and index < len(label) - 1:
            return label[:index] + "…"
    return label


def bar_chart(title: str, items: list[tuple[str, int]], words: Callable[[str], str] = str) -> str:
    """An SVG bar chart of ``items`` (key, count), each key shown as ``words`` says it;
    every text escaped."""
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
        none = escape(gettext("none"))
        parts.append(f'<text x="0" y="{_TOP + 16}" fill="#7a8599">{none}</text>')
    for index, (key, value) in enumerate(items):
        y = _TOP + index * _ROW
        length = round(span * value / largest)
        colour = _COLOURS.get(key, _BAR)
        label = words(key)
        shown = _fitted(label)
        hover = f"<title>{escape(label)}</title>" if shown != label else ""
        parts += [
            f'<g class="bar" data-label="{escape(key)}" data-value="{value}">{hover}',
            f'<text x="{_LABEL - 8}" y="{y + 16}" text-anchor="end">{escape(shown)}</text>',
            f'<rect x="{_LABEL}" y="{y + 4}" width="{max(length, 1)}" height="{_ROW - 8}"'
            f' fill="{colour}"/>',
            f'<text x="{_LABEL + max(length, 1) + 6}" y="{y + 16}">{value:,}</text>',
            "</g>",
        ]
    parts.append("</svg>")
    return "".join(parts)


def chart(name: str, summary: dict[str, Any]) -> str:
    items = items_for(name, summary)  # raises NoSuchChart for a name not in CHARTS
    return bar_chart(gettext(CHARTS[name][1]), items, words_for(name))
