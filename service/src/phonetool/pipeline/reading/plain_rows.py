"""Rows of sheet XML in the plain shape spreadsheet programs write, read by regular
expressions.

The element parser spends ~18 µs on a row of five inline-string cells in a worker, more
than annotating the row's phone number. Excel, LibreOffice, openpyxl and xlsxwriter write
rows in one plain shape: ``<row r="2" ...>`` holding ``<c r="A2" s=".." t="..">`` cells
with a ``<v>`` or a one-piece inline string, nothing between the elements, no namespace
prefix. A piece of the sheet wholly in that shape (its rows match one after another,
with nothing left between them) is read by two regular expressions, ~3x faster; a row of
inline strings in columns A, B, C, ... is taken as the expressions found it. Any other
piece (rich text, formulas, whitespace between elements, character references, ...) goes
to the element parser, which stays the reference: tests hold the two to the same rows.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .cells import column_index, stored_text

if TYPE_CHECKING:
    from .cells import CellRules, Shared

MAIN_NAMESPACE = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"

_CELL = (
    r'<c r="([A-Z]{1,3})[0-9]+"(?: s="([0-9]+)")?(?: t="([a-zA-Z]+)")?'
    r'(?:/>|>(?:<v>([^<]*)</v>|<is><t(?: xml:space="preserve")?>([^<]*)</t></is>)?</c>)'
)
_ROW_ATTRIBUTES = r'((?: (?!xmlns)[a-zA-Z0-9:._-]+="[^"<]*")*)'
_ROW = rf'<row r="([0-9]+)"{_ROW_ATTRIBUTES}(?:/>|>((?:{_CELL})*)</row>)'
_ATTRIBUTE_NAME = re.compile(r' ([a-zA-Z0-9:._-]+)="')


def _without_groups(pattern: str) -> str:
    # The patterns hold no literal parenthesis: every "(" not followed by "?" is a group.
    return re.sub(r"\((?!\?)", "(?:", pattern)


_ROWS = re.compile(_ROW.replace(f"(?:{_CELL})*", _without_groups(f"(?:{_CELL})*")))
_CELLS = re.compile(_CELL)
#: Bytes an XML parser would reject (control characters) or rewrite (CR): such pieces,
#: and those with references beyond the five predefined entities, are left to it.
_CONTROL_BYTES = bytes(c for c in range(32) if c not in (0x09, 0x0A))
_NOT_CHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf", b"]]>")  # U+FFFE, U+FFFF; "]]>" in text
_OTHER_REFERENCE = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)")
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'"}
_ENTITY = re.compile("|".join(_ENTITIES))
_COLUMNS: dict[str, int] = {}
_LETTERS = tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))
_INLINE_KINDS = ("inlineStr",) * len(_LETTERS)


_DECLARED_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([^"']+)""")


def declares_utf8(start: bytes) -> bool:
    """The XML's declaration names UTF-8, or names no encoding (UTF-8 is then meant)."""
    declared = _DECLARED_ENCODING.match(start)
    return declared is None or declared.group(1).lower() in (b"utf-8", b"utf8")


def plain_head(head: bytes) -> frozenset[str] | None:
    """Whether the sheet's start (up to ``<sheetData>``) lets its rows be scanned: UTF-8,
    and SpreadsheetML as the one default namespace (the scanner reads unprefixed names).
    If so, the prefixes it declares, which attributes of rows may carry (Excel's
    ``x14ac:dyDescent``); else None."""
    if not declares_utf8(head):
        return None
    if re.findall(rb"""\sxmlns=["']([^"']*)""", head) != [MAIN_NAMESPACE]:
        return None
    declared = re.findall(rb"""\sxmlns:([\w.-]+)=["']""", head)
    return frozenset(prefix.decode("ascii", "replace") for prefix in declared) | {"xml"}


def plain_rows(
    xml: bytes, prefixes: frozenset[str], shared: Shared, rules: CellRules
) -> list[tuple[int, list[str]]] | None:
    """Each row's number and cells (a gap between cells as empty ones), or None when the
    piece is not wholly in the plain shape. ``prefixes``: from :func:`plain_head`."""
    if (
        len(xml.translate(None, _CONTROL_BYTES)) != len(xml)
        or any(sequence in xml for sequence in _NOT_CHARACTERS)
        or (b"&" in xml and _OTHER_REFERENCE.search(xml) is not None)
    ):
        return None
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError:
        return None
    rows: list[tuple[int, list[str]]] = []
    cells_of = _CELLS.findall
    column_of = _COLUMNS.get
    seen_attributes = {""}
    end = 0
    for row in _ROWS.finditer(text):
        if row.start() != end:
            return None  # something between rows that is not a plain row
        end = row.end()
        number, attributes, cells = row.groups()
        if attributes not in seen_attributes:
            if not _well_formed(attributes, prefixes):
                return None
            seen_attributes.add(attributes)
        if not cells:
            rows.append((int(number), []))
            continue
        found = cells_of(cells)
        columns, _, kinds, _, inlines = zip(*found, strict=True)
        if (
            kinds == _INLINE_KINDS[: len(kinds)]
            and columns == _LETTERS[: len(columns)]
            and "&" not in cells
        ):
            # Inline strings in columns A, B, C, ... without references: the texts as
            # they stand (xlsxwriter's constant-memory mode, our own exports).
            rows.append((int(number), list(inlines)))
            continue
        values: list[str] = []
        for letters, style, kind, value, inline in found:
            index = column_of(letters)
            if index is None:
                index = _COLUMNS[letters] = column_index(letters)
            if index < len(values):
                return None  # a column again, or going back: the element parser places it
            if index > len(values):
                values.extend([""] * (index - len(values)))
            if kind == "inlineStr":
                values.append(_ENTITY.sub(_entity, inline) if "&" in inline else inline)
                continue
            if "&" in value:
                value = _ENTITY.sub(_entity, value)
            values.append(stored_text(kind or "n", value, style or None, shared, rules))
        rows.append((int(number), values))
    return rows if end == len(text) else None


def _well_formed(attributes: str, prefixes: frozenset[str]) -> bool:
    """Each attribute once, and prefixed only by a declared prefix: else the element
    parser refuses the row, and it should be the one to say so."""
    names = ["r", *_ATTRIBUTE_NAME.findall(attributes)]
    if len(set(names)) != len(names):
        return False
    return all(name.partition(":")[0] in prefixes for name in names if ":" in name)


def _entity(found: re.Match[str]) -> str:
    return _ENTITIES[found.group()]
