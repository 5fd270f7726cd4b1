"""The rows of an XLSX sheet as text, streamed by the standard library's XML parser.

openpyxl's read-only mode costs about 10 µs a cell in the one process that reads, so
the workers waited on it (14k rows/s for XLSX where CSV ran 33k), and it keeps an empty
element for every row it has read (~100 MB for a million rows). openpyxl still opens the
workbook (sheets, shared strings, which styles are dates); this module reads the sheet's
rows the way openpyxl's ``iter_rows(values_only=True)`` would give them, with the
conversions of its cell parser, and drops each row's elements once read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import iterparse

from openpyxl.utils.datetime import from_excel, from_ISO8601

from .phones import cell_text

if TYPE_CHECKING:
    from collections.abc import Iterator
    from xml.etree.ElementTree import Element

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_SHEET_DATA = f"{_NS}sheetData"
_ROW = f"{_NS}row"
_VALUE = f"{_NS}v"
_INLINE = f"{_NS}is"
_TEXT = f"{_NS}t"
_RUN = f"{_NS}r"
_DIGITS = "0123456789"


class SheetSource:
    """What reading a sheet's XML needs from the workbook openpyxl opened.

    These are attributes of openpyxl's read-only objects without a public accessor
    (openpyxl is pinned); :meth:`of` returns None when they are missing, and the caller
    then reads with openpyxl itself.
    """

    def __init__(self, ws: Any) -> None:
        book = ws.parent
        self.open = ws._get_source
        self.shared = ws._shared_strings
        self.dates = frozenset(book._date_formats)
        self.timedeltas = frozenset(book._timedelta_formats)
        self.epoch = book.epoch

    @classmethod
    def of(cls, ws: Any) -> SheetSource | None:
        try:
            return cls(ws)
        except AttributeError:
            return None


def sheet_rows(source: SheetSource) -> Iterator[list[str]]:
    """Every row from the first, an empty one where the sheet skips rows."""
    columns: dict[str, int] = {}
    expected = 1
    with source.open() as xml:
        sheet_data: Element | None = None
        for event, element in iterparse(xml, events=("start", "end")):
            if event == "start":
                if element.tag == _SHEET_DATA:
                    sheet_data = element
                continue
            if element.tag != _ROW:
                continue
            number = _row_number(element.get("r"), expected)
            while expected < number:
                yield []
                expected += 1
            yield _row(element, source, columns)
            expected = number + 1
            if sheet_data is not None:
                sheet_data.remove(element)  # read rows leave nothing behind
            element.clear()


def _row_number(ref: str | None, expected: int) -> int:
    if not ref:
        return expected
    return int(float(ref)) if "." in ref else int(ref)


def _row(row: Element, source: SheetSource, columns: dict[str, int]) -> list[str]:
    values: list[str] = []
    for cell in row:
        ref = cell.get("r")
        if ref:
            letters = ref.rstrip(_DIGITS)
            index = columns.get(letters)
            if index is None:
                index = columns[letters] = _column_index(letters)
            if index > len(values):
                values.extend([""] * (index - len(values)))
        values.append(_cell(cell, source))
    return values


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters.upper():
        index = index * 26 + ord(ch) - 64
    return index - 1


def _cell(cell: Element, source: SheetSource) -> str:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = cell.find(_INLINE)
        return _inline_text(inline) if inline is not None else ""
    value = cell.findtext(_VALUE)
    if not value:
        return ""
    if kind == "s":
        return str(source.shared[int(value)])
    if kind == "n":
        number: int | float = (
            float(value) if "." in value or "E" in value or "e" in value else int(value)
        )
        style = cell.get("s")
        if style and int(style) in source.dates:
            return _date_text(number, int(style), source)
        return cell_text(number)
    if kind == "b":
        return cell_text(bool(int(value)))
    if kind == "d":
        return cell_text(from_ISO8601(value))
    return value  # "str" (a formula's text result) and "e" (an error such as #N/A)


def _inline_text(inline: Element) -> str:
    """Plain text and rich-text runs, without phonetic guides, as openpyxl joins them."""
    parts = []
    plain = inline.find(_TEXT)
    if plain is not None and plain.text:
        parts.append(plain.text)
    for run in inline.iter(_RUN):
        text = run.findtext(_TEXT)
        if text:
            parts.append(text)
    return "".join(parts)


def _date_text(number: float, style: int, source: SheetSource) -> str:
    try:
        moment = from_excel(number, source.epoch, timedelta=style in source.timedeltas)
    except (OverflowError, ValueError):
        return "#VALUE!"  # a date style on a serial outside the dates: openpyxl's answer
    return cell_text(moment)
