"""The rows of an XLSX sheet as text, streamed by the standard library's XML parser.

openpyxl's read-only mode costs about 10 µs a cell in the one process that reads, so
the workers waited on it (14k rows/s for XLSX where CSV ran 33k), and it keeps an empty
element for every row it has read (~100 MB for a million rows). openpyxl still opens the
workbook (sheets, shared strings, which styles are dates); this module reads the sheet's
rows the way openpyxl's ``iter_rows(values_only=True)`` would give them, with the
conversions of its cell parser, and drops each row's elements once read.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from xml.etree.ElementTree import ParseError, XMLPullParser, iterparse

from ..errors import (
    DAMAGED_XLSX,
    N_,
    CellTooLargeError,
    CorruptFileError,
    LimitExceededError,
    NotPlainSheet,
    RowsOutOfOrderError,
)
from ..sheet_limits import MAX_ROWS
from .cells import CellRules, Shared, check_row_number, column_index, stored_text
from .plain_rows import declares_utf8, plain_head, plain_rows

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path
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
        self.member: str = ws._worksheet_path
        self.shared: Sequence[str] = ws._shared_strings
        self.rules = CellRules(
            frozenset(book._date_formats), frozenset(book._timedelta_formats), book.epoch
        )

    @classmethod
    def of(cls, ws: Any) -> SheetSource | None:
        try:
            return cls(ws)
        except AttributeError:
            return None


#: Bytes of sheet XML the full parser is fed at a time.
_FEED_BYTES = 1 << 16


def sheet_rows(source: SheetSource) -> Iterator[list[str]]:
    """Every row from the first, an empty one where the sheet skips rows: the reference
    reader, for any XML the format allows (any encoding, comments, prefixes, CDATA).

    Rows written in pieces under one number are joined, as openpyxl joins them; rows
    whose numbers go back are refused. The XML is fed to the parser a block at a time
    and each row's elements are dropped once read, so memory holds one row: a "row"
    (or what stands before the first) of more than :data:`MAX_ROW_BYTES` is refused
    while it is read.
    """
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    columns: dict[str, int] = {}
    last_number = 0  # the row number of ``last``; 0 before the first row
    last: list[str] | None = None
    unread = 0  # bytes fed since the last row ended
    sheet_data: Element | None = None
    with source.open() as xml:
        while True:
            block = xml.read(_FEED_BYTES)
            if block:
                parser.feed(block)
                unread += len(block)
            else:
                parser.close()
            for event, element in cast("Iterator[tuple[str, Element]]", parser.read_events()):
                if event == "start":
                    if element.tag == _SHEET_DATA:
                        sheet_data = element
                    elif sheet_data is None and element.tag.endswith("}worksheet"):
                        _check_namespace(element.tag)
                    continue
                if element.tag != _ROW:
                    continue
                unread = 0
                number = _row_number(element.get("r"), last_number + 1)
                joining = last is not None and number == last_number
                values = _row(
                    element, source.shared, source.rules, columns, into=last if joining else None
                )
                if sheet_data is not None:
                    sheet_data.remove(element)  # read rows leave nothing behind
                element.clear()
                if joining:
                    continue
                if number < last_number:
                    raise RowsOutOfOrderError(
                        ROWS_OUT_OF_ORDER, row=f"{number:,}", after=f"{last_number:,}"
                    )
                if last is not None:
                    yield last
                for _ in range(last_number + 1, number):
                    yield []
                last_number, last = number, values
            _bounded(unread, _IN_ONE_ROW if last is not None else _BEFORE_FIRST_ROW)
            if not block:
                break
    if last is not None:
        yield last


def _check_namespace(root: str) -> None:
    """Rows are read in SpreadsheetML's namespace: a sheet in another (Strict Open XML)
    would be read as no rows at all."""
    if root != f"{_NS}worksheet":
        raise CorruptFileError(STRICT_XLSX if STRICT_NAMESPACE in root else FOREIGN_SHEET)


#: Excel's "Strict Open XML Spreadsheet" format, which openpyxl cannot open either.
STRICT_NAMESPACE = "http://purl.oclc.org/ooxml/spreadsheetml/main"
STRICT_XLSX = N_(
    'The workbook is saved as "Strict Open XML Spreadsheet", which the service cannot'
    ' read. Open it in Excel, choose Save As, and pick "Excel Workbook (*.xlsx)".'
)
FOREIGN_SHEET = N_(
    "The workbook's first sheet is not a worksheet the service can read. Open it in Excel"
    " or LibreOffice and save it again as .xlsx."
)


ROWS_OUT_OF_ORDER = N_(
    "The sheet's row %(row)s comes after row %(after)s: its rows are out of order, which"
    " spreadsheet programs never write. Open the file in Excel or LibreOffice and save it"
    " again as .xlsx."
)


def _row_number(ref: str | None, expected: int) -> int:
    if not ref:
        return check_row_number(expected)
    return check_row_number(int(float(ref)) if "." in ref else int(ref))


def _row(
    row: Element,
    shared: Shared,
    rules: CellRules,
    columns: dict[str, int],
    into: list[str] | None = None,
) -> list[str]:
    """The row's cells, each in its column (by its reference, else after the one before);
    a cell in a column already filled takes its place, as openpyxl places cells. ``into``:
    cells read from an earlier element for the same row."""
    values: list[str] = [] if into is None else into
    index = len(values) - 1
    for cell in row:
        ref = cell.get("r")
        if ref:
            letters = ref.rstrip(_DIGITS)
            found = columns.get(letters)
            if found is None:
                found = columns[letters] = column_index(letters)
            index = found
        else:
            index += 1
        text = _cell(cell, shared, rules)
        if index < len(values):
            values[index] = text
            continue
        if index > len(values):
            values.extend([""] * (index - len(values)))
        values.append(text)
    return values


def _cell(cell: Element, shared: Shared, rules: CellRules) -> str:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = cell.find(_INLINE)
        return _inline_text(inline) if inline is not None else ""
    return stored_text(kind, cell.findtext(_VALUE), cell.get("s"), shared, rules)


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


# -- fragments: the sheet's rows cut into pieces for the workers to parse ------------------


#: Bytes of row XML in one piece: ~800 rows of a typical order list. Smaller pieces cost
#: nothing measurable here and keep less in flight (1 MB pieces: main 100 MB, workers
#: 224 MB at 200k rows; 256 KB: 73 and 215 MB).
FRAGMENT_BYTES = 1 << 18
#: Bytes of sheet XML before the first row, or in one row: a row of 16,384 cells of
#: 32,767 characters each would be larger, but no list of phone numbers comes close, and
#: without a bound one "row" could be the whole gigabyte of the sheet, held at once.
MAX_ROW_BYTES = 16 << 20

_SHEET_DATA_TAG = re.compile(rb"<((?:[\w.-]+:)?)sheetData\b[^>]*?(/?)>")
_ROW_NUMBER = re.compile(rb"""\sr\s*=\s*["']([0-9.]+)["']""")
_SHARED_VALUE = re.compile(
    rb"<(?:[\w.-]+:)?c\b[^>]*?\st\s*=\s*[\"']s[\"'][^>]*>\s*<(?:[\w.-]+:)?v>\s*(\d+)\s*<"
)
#: What may stand in the sheet's XML before ``<sheetData>`` for the byte search to be
#: trusted: elements and text, the XML declaration, nothing that hides markup.
_HIDING = re.compile(rb"<!|<\?(?!xml\s)")
#: Byte order marks and first bytes of XML in an encoding other than UTF-8.
_OTHER_ENCODING = (b"\xff\xfe", b"\xfe\xff", b"\x00<", b"<\x00", b"\x00\x00")


@dataclass(frozen=True)
class SheetShape:
    """What every fragment of one sheet shares; picklable."""

    head: bytes  # the sheet XML up to and including the <sheetData> start tag
    tail: bytes  # closes what ``head`` opened
    rules: CellRules
    width: int  # the sheet's column count: rows are padded to it, as openpyxl pads them
    header_row: int  # rows up to this one are the header and what is above it
    max_cell: int  # characters a cell may hold
    #: Prefixes declared above the rows when pieces may be read by
    #: :func:`.plain_rows.plain_rows`; None leaves them to the element parser.
    plain: frozenset[str] | None


@dataclass(frozen=True)
class Fragment:
    """Whole ``<row>`` elements, the row number its first row has unless it says, and
    the shared strings it refers to."""

    xml: bytes
    expected_row: int
    shared: dict[int, str]


class Fragments:
    """The sheet's rows in pieces of about :data:`FRAGMENT_BYTES`, cut between rows by
    byte searches in the reading process; the workers parse the pieces. Opens its own
    handle on the file, so the workbook openpyxl opened may be closed."""

    def __init__(
        self, path: Path, source: SheetSource, width: int, header_row: int, max_cell: int
    ) -> None:
        self._path = path
        self._member = source.member
        self._shared = source.shared
        self._rules = source.rules
        self._width = width
        self._header_row = header_row
        self._max_cell = max_cell
        #: Set once the first piece is read: what every piece is parsed with.
        self.shape: SheetShape | None = None

    def __iter__(self) -> Iterator[Fragment]:
        try:
            yield from self._pieces()
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OverflowError) as exc:
            raise CorruptFileError(DAMAGED_XLSX, error=type(exc).__name__) from None

    def _pieces(self) -> Iterator[Fragment]:
        self.shape = None
        with zipfile.ZipFile(self._path) as archive, archive.open(self._member) as xml:
            buffer = b""
            while self.shape is None:
                block = xml.read(FRAGMENT_BYTES)
                if not block:
                    # No <sheetData> where a byte search finds one: the full parser decides
                    # (another encoding, or truly no rows).
                    raise NotPlainSheet("no <sheetData> found by a byte search")
                buffer += block
                _check_encoding(buffer)
                found = _SHEET_DATA_TAG.search(buffer)
                if found is None:
                    _bounded(len(buffer), _BEFORE_FIRST_ROW)
                    continue
                _check_head(buffer[: found.start()])
                prefix, empty = found.group(1), found.group(2)
                if empty:
                    return
                self.shape = SheetShape(
                    head=buffer[: found.end()],
                    tail=b"</%ssheetData></%sworksheet>" % (prefix, prefix),
                    rules=self._rules,
                    width=self._width,
                    header_row=self._header_row,
                    max_cell=self._max_cell,
                    plain=plain_head(buffer[: found.end()]),
                )
                buffer = buffer[found.end() :]
                row_end = b"</%srow>" % prefix
                row_starts = (b"<%srow " % prefix, b"<%srow>" % prefix, b"<%srow/" % prefix)
                data_end = b"</%ssheetData>" % prefix
            expected = 1
            while True:
                block = xml.read(FRAGMENT_BYTES)
                buffer += block
                if block:
                    cut = buffer.rfind(row_end)
                    if cut < 0:
                        _bounded(len(buffer), _IN_ONE_ROW)
                        continue
                    cut += len(row_end)
                else:
                    cut = buffer.find(data_end)
                    cut = len(buffer) if cut < 0 else cut
                piece, buffer = buffer[:cut], buffer[cut:]
                if b"<!" in piece or b"<?" in piece:
                    # A comment, CDATA or processing instruction may hide "</row>" or
                    # "<row": the cut cannot be trusted.
                    raise NotPlainSheet("a comment, CDATA or processing instruction in the rows")
                if piece.strip():
                    yield Fragment(piece, expected, self._shared_part(piece))
                    expected = _after_last_row(piece, row_starts, expected)
                if not block:
                    return

    def _shared_part(self, piece: bytes) -> dict[int, str]:
        if not self._shared:
            return {}
        found = {int(i) for i in _SHARED_VALUE.findall(piece)}
        return {i: str(self._shared[i]) for i in found if i < len(self._shared)}


#: What ``_bounded`` says, by where the XML ran on.
_BEFORE_FIRST_ROW = N_(
    "The sheet has more than %(mb)d MB of XML before the first row, more than a phone list"
    " can have. The file is damaged or is not a phone list; save the sheet again from"
    " Excel or LibreOffice."
)
_IN_ONE_ROW = N_(
    "The sheet has more than %(mb)d MB of XML in one row, more than a phone list can have."
    " The file is damaged or is not a phone list; save the sheet again from Excel or"
    " LibreOffice."
)


def _bounded(seen: int, text: str) -> None:
    """``seen`` bytes of XML before the first row, or in one: past the bound, refused."""
    if seen > MAX_ROW_BYTES:
        raise LimitExceededError(text, limit=MAX_ROW_BYTES, seen=seen, mb=MAX_ROW_BYTES >> 20)


def _check_encoding(start: bytes) -> None:
    """UTF-8, or the byte search is blind."""
    if start.startswith(_OTHER_ENCODING):
        raise NotPlainSheet("the sheet's XML is not in UTF-8")
    if not declares_utf8(start):
        raise NotPlainSheet("the sheet's XML declares another encoding than UTF-8")


def _check_head(head: bytes) -> None:
    """Nothing before ``<sheetData>`` that could hide it (or a false one)."""
    if _HIDING.search(head):
        raise NotPlainSheet("a comment, DTD or processing instruction before the rows")


def _after_last_row(piece: bytes, row_starts: tuple[bytes, ...], expected: int) -> int:
    """The row number after the last row of ``piece``."""
    last = max(piece.rfind(start) for start in row_starts)
    tag = piece[last : piece.find(b">", last) + 1]
    number = _ROW_NUMBER.search(tag)
    if number is not None:
        return int(float(number.group(1))) + 1
    return expected + sum(piece.count(start) for start in row_starts)


Run = tuple[int, list[list[str]]]


def fragment_rows(fragment: Fragment, shape: SheetShape) -> list[Run]:
    """Parse a fragment: its data rows (below the header, padded to the sheet's width) in
    runs of consecutive rows, each with the row number of its first. Rows the sheet skips
    are not rows of the list and are not made up: a sheet whose one row is numbered
    1,000,000 costs one row."""
    start = max(fragment.expected_row, shape.header_row + 1)
    runs: list[Run] = []
    rows: list[list[str]] = []
    next_row = start
    previous = fragment.expected_row - 1
    try:
        numbered = None
        if shape.plain is not None:
            numbered = plain_rows(fragment.xml, shape.plain, fragment.shared, shape.rules)
        for number, values in numbered if numbered is not None else _parsed(fragment, shape):
            if number <= previous:
                # One row in several elements, or rows out of order: the full parser
                # joins the one and refuses the other.
                raise NotPlainSheet(f"row {number} after row {previous}")
            previous = number
            if number < start:
                continue
            if number != next_row or number > MAX_ROWS:
                check_row_number(number)
                if rows:
                    runs.append((next_row - len(rows), rows))
                    rows = []
            if max(map(len, values), default=0) > shape.max_cell:
                raise CellTooLargeError(
                    N_(
                        "Row %(row)d has a cell longer than %(chars)s characters; a phone"
                        " list never needs one. Check that the file is the right one."
                    ),
                    row=number,
                    chars=f"{shape.max_cell:,}",
                )
            if len(values) < shape.width:
                values += [""] * (shape.width - len(values))
            rows.append(values)
            next_row = number + 1
    except KeyError:
        # A shared string the cutter did not see referred to: its search missed a shape.
        raise NotPlainSheet("a shared string the byte search missed") from None
    except (ParseError, ValueError, IndexError, OverflowError) as exc:
        raise CorruptFileError(DAMAGED_XLSX, error=type(exc).__name__) from None
    if rows:
        runs.append((next_row - len(rows), rows))
    return runs


def _parsed(fragment: Fragment, shape: SheetShape) -> Iterator[tuple[int, list[str]]]:
    """Each row's number and cells, by the element parser: any shape of sheet XML."""
    document = io.BytesIO(shape.head + fragment.xml + shape.tail)
    columns: dict[str, int] = {}
    expected = fragment.expected_row
    for _, element in iterparse(document):
        if element.tag != _ROW:
            continue
        number = _row_number(element.get("r"), expected)
        expected = number + 1
        yield number, _row(element, fragment.shared, shape.rules, columns)
        element.clear()
