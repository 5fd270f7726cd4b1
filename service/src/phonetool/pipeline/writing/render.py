"""Rows as the text the exports hold, written where the rows are annotated.

xlsxwriter spends about 9 µs a cell in the one process that owns the workbook: for a
row of 18 cells that is three times the cost of annotating its phone number, and it
cannot be spread over cores. So the worker processes write each row's SpreadsheetML
(``<row>`` with inline strings, as xlsxwriter's constant-memory mode does) and CSV line;
the main process only numbers the rows, adds the duplicate column and appends the text
(see :mod:`.sheets`).
"""

from __future__ import annotations

import csv
import re
from typing import Any, NamedTuple

#: Stands for the row number in a rendered row. Control characters never survive
#: :func:`xml_text`, so the mark cannot collide with a cell's text.
ROW_MARK = "\x00"

#: A spreadsheet runs a cell starting with one of these as a formula (OWASP, CSV Injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPE_LOOKALIKE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_XML_SPACE = " \t\n\r"


def neutralise(cell: str) -> str:
    """Prefix a formula trigger with an apostrophe so it shows as text, not runs."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def width(text: str) -> int:
    """Columns the text takes in Excel's default font, near enough for sizing a column:
    characters outside ASCII count as two (CJK takes two; UTF-8 spends three bytes on
    them, which makes the count one C call)."""
    if text.isascii():
        return len(text)
    return len(text) + (len(text.encode("utf-8")) - len(text)) // 2


def column_letters(count: int) -> list[str]:
    """A, B, ..., Z, AA, ... for the first ``count`` columns."""
    letters = []
    for index in range(count):
        name = ""
        n = index + 1
        while n:
            n, rest = divmod(n - 1, 26)
            name = chr(65 + rest) + name
        letters.append(name)
    return letters


def xml_text(text: str) -> str:
    """Text as SpreadsheetML holds it: XML-escaped, control characters as ``_xHHHH_``
    (and a literal ``_xHHHH_`` protected, so Excel does not decode it), as xlsxwriter does."""
    if "_x" not in text and _SPECIAL.search(text) is None:
        return text
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _ESCAPE_LOOKALIKE.sub(r"_x005F\1", text)
    return _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def string_cell(ref: str, text: str) -> str:
    """One inline-string cell; ``ref`` is the column letters followed by :data:`ROW_MARK`."""
    return _cell_start(ref, text) + xml_text(text) + _CELL_END


def _cell_start(ref: str, text: str) -> str:
    return inline_start(ref, spaced=text.strip(_XML_SPACE) is not text)


def inline_start(ref: str, *, spaced: bool = False) -> str:
    """The markup before an inline string's text; ``spaced`` keeps its edge spaces."""
    space = ' xml:space="preserve"' if spaced else ""
    return f'<c r="{ref}" t="inlineStr"><is><t{space}>'


_CELL_END = "</t></is></c>"


def number_cell(ref: str, value: int) -> str:
    return f'<c r="{ref}"><v>{value}</v></c>'


class RowRenderer:
    """Renders rows of string cells for one sheet's columns: the per-column markup is
    built once, and a row whose text needs no escaping (nearly all) is put together in
    one comprehension, checked by two scans in C."""

    def __init__(self, refs: tuple[str, ...]) -> None:
        self._plain = [inline_start(ref) for ref in refs]
        self._spaced = [inline_start(ref, spaced=True) for ref in refs]

    def row(self, cells: list[str] | tuple[str, ...]) -> str:
        """A ``<row>``, empty cells left out, without its closing tag (the main process
        may still add a cell). The row number is :data:`ROW_MARK`."""
        return _ROW_START + self.cells(cells)

    def cells(self, cells: list[str] | tuple[str, ...]) -> str:
        """The cells alone, empty ones left out."""
        text = "".join(cells)
        if "_x" in text or _SPECIAL.search(text) is not None:  # rare: escape cell by cell
            cells = [xml_text(c) for c in cells]
        return "".join(
            [
                (plain if t.strip(_XML_SPACE) is t else spaced) + t + _CELL_END
                for plain, spaced, t in zip(self._plain, self._spaced, cells, strict=True)
                if t
            ]
        )


_ROW_START = f'<row r="{ROW_MARK}">'


def column_widths(rows: list[list[str]] | list[tuple[str, ...]], columns: int) -> list[int]:
    """Per column, at least the widest cell's :func:`width`: from the longest cell in
    characters and the longest in UTF-8 bytes, which C counts for a whole chunk at once."""
    widths = [0] * columns
    for col, cells in enumerate(zip(*rows, strict=True)):
        chars = max(map(len, cells))
        if all(map(str.isascii, cells)):
            widths[col] = chars
        else:
            widths[col] = (chars + max(map(len, map(str.encode, cells)))) // 2
    return widths


class LineWriter:
    """``csv.writer`` target that keeps each row's line without its line end, for the
    main process to finish with the duplicate column."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        # The writer quotes cells holding characters of its line terminator: keep CRLF.
        self._writer: Any = csv.writer(self, lineterminator="\r\n")

    def write(self, line: str) -> None:
        self.lines.append(line)

    def line(self, cells: list[str] | tuple[str, ...]) -> str:
        self._writer.writerow(cells)
        return self.lines.pop()[:-2]


class GeneratedCells:
    """The generated columns of rows, as both exports hold them, and their widths.

    Two belong to the number itself (E.164, national format). The other ten (validity,
    type, region, places, carrier, reason) are the same for every number of a block, so
    they are rendered once per distinct set of values and reused: they were most of the
    rendering of a row. One per worker and set of column references.
    """

    _LIMIT = 20_000  # distinct blocks' values kept; cleared when full

    def __init__(self, refs: tuple[str, ...]) -> None:
        self._own = RowRenderer(refs[:2])
        self._e164, self._national = (inline_start(ref) for ref in refs[:2])
        self._rest = RowRenderer(refs[2:])
        self._lines = LineWriter()
        self._rendered: dict[tuple[str, ...], Rendered] = {}

    def own(self, texts: tuple[str, ...]) -> tuple[str, str]:
        """The number's own cells: SpreadsheetML and CSV. phonenumbers writes both as
        digits, spaces and a little ASCII punctuation, which need no escaping or quoting;
        anything else takes the general path."""
        e164, national = texts[0], texts[1]
        if _plain(e164) and _plain(national):
            xml = (self._e164 + e164 + _CELL_END if e164 else "") + (
                self._national + national + _CELL_END if national else ""
            )
            return xml, f"{e164},{national}"
        return self._own.cells(texts[:2]), self._lines.line(texts[:2])

    def rest(self, texts: tuple[str, ...]) -> Rendered:
        """The ten cells shared by the numbers of a block."""
        rest = texts[2:]
        found = self._rendered.get(rest)
        if found is None:
            if len(self._rendered) >= self._LIMIT:
                self._rendered.clear()
            found = self._rendered[rest] = Rendered(
                self._rest.cells(rest), self._lines.line(rest), column_widths([rest], len(rest))
            )
        return found


class Rendered(NamedTuple):
    xml: str
    csv: str
    widths: list[int]


_NEEDS_CARE = frozenset('&<>",_')  # escaping, quoting, or an _xHHHH_ look-alike


def _plain(text: str) -> bool:
    """Text that goes into both exports as it is: printable ASCII without characters
    that need escaping or quoting, and no spaces at its ends."""
    return (
        text.isascii()
        and text.isprintable()
        and text.strip() == text
        and _NEEDS_CARE.isdisjoint(text)
    )
