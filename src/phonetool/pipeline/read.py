"""Open an uploaded CSV or XLSX as a header and a stream of rows, in constant memory.

Everything a member can get wrong about a file ends here as an ``InputError`` naming the
problem: an encoding we cannot read, binary junk with a .csv name, a truncated XLSX, a ZIP
bomb, a cell larger than any phone list needs, a header without a phone column.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO
from xml.etree.ElementTree import ParseError, iterparse

import charset_normalizer

from .errors import (
    DAMAGED_XLSX,
    N_,
    BinaryFileError,
    CellTooLargeError,
    CorruptFileError,
    EmptyFileError,
    EncodingError,
    FileTooLargeError,
    LimitExceededError,
    NoDataRowsError,
    PhoneColumnNotFoundError,
    UnknownSheetError,
    UnsupportedFileError,
)
from .phone_info import FIELDS
from .phones import cell_text
from .sheet_limits import MAX_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator
    from pathlib import Path

    from .sheet_rows import Fragments


def _nothing() -> None:
    pass


#: Header names of the phone column, best first, compared without spaces and case.
PHONE_HEADERS = (
    "手机号",
    "手机号码",
    "手机",
    "收件人手机",
    "收件人电话",
    "收货人手机",
    "收货人电话",
    "联系电话",
    "联系方式",
    "电话",
    "电话号码",
    "mobile",
    "phone",
    "phonenumber",
    "mobilephone",
    "cellphone",
    "tel",
    "telephone",
)
_PHONE_WORDS = ("手机", "电话", "phone", "mobile", "tel")

SAMPLE_BYTES = 256 * 1024
HEADER_SEARCH_ROWS = 20
MAX_CELL_CHARS = csv.field_size_limit()  # 131,072: the csv module's own, for XLSX too
#: Characters of one CSV row (all its lines, when quoted cells hold line breaks), checked
#: as each line is read: a row of 16,384 columns of ten characters is 180,000; without a
#: bound, one "line" of 200 MB of commas is 69 million fields held at once.
MAX_CSV_ROW_CHARS = 4 * 1024 * 1024
#: Columns of the upload the result can keep: a sheet has 16,384 (Excel's limit), and
#: the result adds its own after them.
MAX_INPUT_COLUMNS = MAX_COLUMNS - len(FIELDS) - 1
#: Unpacked bytes of any one part of an XLSX file (a sheet of a million rows is ~500 MB).
MAX_XLSX_PART = 1024**3
#: A part larger than this must not unpack to more than MAX_XLSX_RATIO times its packed
#: size: real sheets pack 5-15x; a ZIP bomb packs 1000x. Checked part by part, so a large
#: random part stored alongside cannot dilute the ratio.
XLSX_RATIO_FROM = 50 * 1024**2
MAX_XLSX_RATIO = 200
#: Unpacked bytes of the shared strings, which openpyxl loads whole before any row is
#: read: a million rows of five distinct texts each is ~200 MB.
MAX_SHARED_STRINGS = 256 * 1024**2
#: Unpacked bytes of the other parts openpyxl loads whole (workbook, styles, relations).
MAX_XLSX_METADATA = 32 * 1024**2


@dataclass
class Table:
    """An opened file: its header, where the phone is, and the rows after the header."""

    kind: str  # "csv" or "xlsx"
    headers: list[str]
    phone_index: int
    header_row: int  # 1-based row number of the header, as a spreadsheet shows it
    rows: Iterator[list[str]]
    total_rows: int | None  # an estimate for progress, None when unknown
    encoding: str | None = None
    delimiter: str | None = None
    #: XLSX: the rows as XML pieces for the workers to parse (see sheet_rows.Fragments),
    #: read from the file again, so ``rows`` need not be read past the header.
    fragments: Fragments | None = None
    #: Releases what ``rows`` holds open.
    close: Callable[[], None] = _nothing
    #: XLSX: unpacked bytes of the sheet's XML, a bound on the rows it can hold.
    sheet_bytes: int | None = None


def open_table(
    path: Path, *, phone_column: str | None = None, sheet: str | None = None, plain: bool = True
) -> Table:
    """Open ``path`` by its content (CSV or XLSX), find the header and the phone column.

    ``plain=False`` reads an XLSX sheet's rows with the full XML parser alone, never cut
    into pieces by byte search (see ``sheet_rows.Fragments``)."""
    if path.stat().st_size == 0:
        raise EmptyFileError(N_("The file is empty. Upload a CSV or XLSX with a header row."))
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith((b"PK\x03\x04", _COMPOUND_FILE)) or _named_excel(path):
        return _open_xlsx(path, phone_column, sheet, plain)
    return _open_csv(path, phone_column)


def _named_excel(path: Path) -> bool:
    return path.suffix.lower() in (".xlsx", ".xlsm", ".xls")


def _check_package(path: Path) -> None:
    """A ZIP archive, as every XLSX workbook is; else say what the file is instead."""
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        return
    if head.startswith(_COMPOUND_FILE) and _is_encrypted_workbook(path):
        raise UnsupportedFileError(
            N_(
                "The workbook is protected by a password, so it cannot be read. Open it in"
                " Excel, remove the password (File, Info, Protect Workbook, Encrypt with"
                " Password), save it and upload it again."
            )
        )
    if head.startswith(_COMPOUND_FILE) or path.suffix.lower() == ".xls":
        raise UnsupportedFileError(
            N_("Old Excel .xls files are not supported. Save the sheet as .xlsx or .csv.")
        )
    raise CorruptFileError(
        N_(
            "The file is named .xlsx but is not an XLSX workbook (it is not a ZIP"
            " archive). Open it in Excel or LibreOffice and save it as .xlsx again."
        )
    )


#: The first bytes of an OLE compound file: an old .xls, or an encrypted .xlsx, which
#: Excel wraps in one (streams "EncryptionInfo" and "EncryptedPackage").
_COMPOUND_FILE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
#: Bytes of a compound file's directory read from its start: the first entries (the
#: root and its streams) are all that is looked at.
_DIRECTORY_BYTES = 64 * 1024


def _is_encrypted_workbook(path: Path) -> bool:
    """Whether the compound file holds Excel's encrypted package (MS-OFFCRYPTO): its
    directory names the stream. The header says where the directory starts."""
    with path.open("rb") as f:
        header = f.read(512)
        if len(header) < 512:
            return False
        sector_size = 1 << min(int.from_bytes(header[0x1E:0x20], "little"), 16)
        first = int.from_bytes(header[0x30:0x34], "little")
        f.seek((first + 1) * sector_size)
        return _ENCRYPTED_PACKAGE in f.read(_DIRECTORY_BYTES)


# -- CSV ----------------------------------------------------------------------------------


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM), then GB18030 (a superset of GBK), then a best guess."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise BinaryFileError(
            N_("The file contains binary data, not text. Upload the phone list as CSV or XLSX.")
        )
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    best = charset_normalizer.from_bytes(sample).best()
    if best is None:
        raise EncodingError(
            N_("The text encoding of the file could not be recognised. Save it as CSV UTF-8.")
        )
    return str(best.encoding)


def _check_text(sample: str) -> None:
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if sample and controls / len(sample) > 0.05:
        raise BinaryFileError(
            N_(
                "The file does not look like text (too many control characters). Upload the"
                " phone list as CSV or XLSX."
            )
        )


def _open_csv(path: Path, phone_column: str | None) -> Table:
    with path.open("rb") as f:
        sample = f.read(SAMPLE_BYTES)
    encoding = detect_encoding(sample)
    text_sample = sample.decode(encoding, errors="ignore")
    _check_text(text_sample)
    delimiter = _sniff_delimiter(text_sample)
    handle = path.open(encoding=encoding, newline="")
    lines = _BoundedLines(handle)
    reader = csv.reader(lines, delimiter=delimiter)
    rows = _csv_rows(reader, lines, handle, encoding)
    header_row, headers, index, rest = _find_header(rows, phone_column)
    # Rows wider than the header (a stray delimiter in an address, say) keep their extra
    # cells as "column N", as far as the sample shows them; the workers count any cut.
    width = _widest_row(text_sample, delimiter)
    _check_width(max(width, len(headers)))
    headers += [""] * (width - len(headers))
    total = max(_count_lines(path) - header_row, 0)
    return Table("csv", headers, index, header_row, rest, total, encoding, delimiter)


def _widest_row(sample: str, delimiter: str) -> int:
    widest = 0
    reader = csv.reader(io.StringIO(sample), delimiter=delimiter)
    try:
        for row in reader:
            widest = max(widest, len(row))
    except csv.Error:
        pass  # the sample ends inside a cell, or a cell is too large: the rows before count
    return widest


def _check_width(columns: int) -> None:
    if columns > MAX_INPUT_COLUMNS:
        raise LimitExceededError(
            N_(
                "The file has %(columns)s columns; the result can keep %(keep)s (a sheet"
                " holds %(sheet)s, and the result adds its own columns). Remove the columns"
                " you do not need, or check that the delimiter is right."
            ),
            limit=MAX_INPUT_COLUMNS,
            seen=columns,
            columns=f"{columns:,}",
            keep=f"{MAX_INPUT_COLUMNS:,}",
            sheet=f"{MAX_COLUMNS:,}",
        )


def _sniff_delimiter(sample: str) -> str:
    lines = "\n".join(sample.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(lines, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


class _BoundedLines:
    """The file's lines for ``csv.reader``, each read with a bound, and the characters of
    the row being read counted as they come (~0.13 µs a row)."""

    def __init__(self, handle: io.TextIOBase) -> None:
        self._readline = handle.readline
        self.row_chars = 0  # since the reader last gave a row; the caller resets it

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        line = self._readline(MAX_CSV_ROW_CHARS + 1)
        if not line:
            raise StopIteration
        self.row_chars += len(line)
        if self.row_chars > MAX_CSV_ROW_CHARS:
            raise LimitExceededError(
                N_(
                    "A row of the file is longer than %(chars)s characters, more than a"
                    " phone list ever has (is a quote left open, or is the file not a"
                    " list?). Check the file, or save it again as CSV."
                ),
                limit=MAX_CSV_ROW_CHARS,
                chars=f"{MAX_CSV_ROW_CHARS:,}",
            )
        return line


def _csv_rows(
    reader: Any, lines: _BoundedLines, handle: io.TextIOBase, encoding: str
) -> Iterator[list[str]]:
    try:
        for row in reader:
            lines.row_chars = 0
            yield row
    except UnicodeDecodeError:
        raise EncodingError(
            N_(
                "Line %(line)d cannot be read as %(encoding)s: the file mixes text"
                " encodings. Save it again as CSV UTF-8."
            ),
            line=reader.line_num + 1,
            encoding=encoding,
        ) from None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise CellTooLargeError(
                N_(
                    "Line %(line)d has a cell longer than %(chars)s characters; a phone list"
                    " never needs one. Check that the file is the right one."
                ),
                line=reader.line_num,
                chars=f"{MAX_CELL_CHARS:,}",
            ) from None
        raise CorruptFileError(
            N_("Line %(line)d is not valid CSV: %(detail)s."),
            line=reader.line_num,
            detail=str(exc),
        ) from None
    finally:
        handle.close()


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            count += chunk.count(b"\n")
    return count + 1


# -- XLSX ---------------------------------------------------------------------------------


_CONTENT_TYPES = "[Content_Types].xml"
_WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_SHARED_STRINGS = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_PARSED_SUFFIXES = (".xml", ".rels", ".vml")
#: Strict Open XML keeps the content types; its relationships and parts are in other
#: namespaces, under this address (ISO/IEC 29500 Strict).
_STRICT_ADDRESS = b"http://purl.oclc.org/ooxml/"
_PROLOG_BYTES = 64 * 1024
_ROOT_START = re.compile(rb"<[^?!]")
_DTD = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def _check_zip(path: Path) -> bool:
    """Refuse what would make reading the workbook costly before anything reads it: ZIP
    bombs, parts larger than they can be, DTDs, truncated files. Each part is judged on
    its own, by the sizes its ZIP entry declares (zipfile never unpacks more). Answers
    whether the workbook is in the Strict Open XML format (see ``_STRICT_WORKBOOK``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            kinds = _part_kinds(archive)
            for info in archive.infolist():
                if info.filename != _CONTENT_TYPES:  # checked before it was read
                    _check_part(archive, info, kinds.get(info.filename.lstrip("/")))
            return _is_strict(archive)
    except (zipfile.BadZipFile, OSError, EOFError, ParseError, RuntimeError):
        raise CorruptFileError(
            N_(
                "The XLSX file is damaged or incomplete (the upload may have been cut off)."
                " Save it again and upload the new file."
            )
        ) from None


def _is_strict(archive: zipfile.ZipFile) -> bool:
    """The package's own relationships name the workbook in Strict's namespace."""
    try:
        with archive.open("_rels/.rels") as rels:
            return _STRICT_ADDRESS in rels.read(_PROLOG_BYTES)
    except KeyError:
        return False


def _part_kinds(archive: zipfile.ZipFile) -> dict[str, str]:
    """Part name -> content type, as the workbook declares them (openpyxl finds the shared
    strings this way)."""
    try:
        info = archive.getinfo(_CONTENT_TYPES)
    except KeyError:
        return {}
    _check_part(archive, info, None)
    with archive.open(info) as xml:
        return {
            element.get("PartName", "").lstrip("/"): element.get("ContentType", "")
            for _, element in iterparse(xml)
            if element.tag.endswith("}Override")
        }


def _check_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, kind: str | None) -> None:
    name, size = info.filename, info.file_size
    limit = MAX_XLSX_PART
    if name.lower().endswith(_PARSED_SUFFIXES) and kind != _WORKSHEET:
        limit = MAX_SHARED_STRINGS if kind == _SHARED_STRINGS else MAX_XLSX_METADATA
    if size > XLSX_RATIO_FROM and size > MAX_XLSX_RATIO * max(info.compress_size, 1):
        raise FileTooLargeError(
            N_(
                "The part %(part)r of the XLSX file unpacks to %(mb)s MB from %(packed)s MB,"
                " more than %(ratio)dx: spreadsheets do not pack that well, ZIP bombs do."
                " Save the file again from Excel or LibreOffice."
            ),
            part=name[:100],
            mb=f"{size / 1024**2:,.0f}",
            packed=f"{info.compress_size / 1024**2:,.1f}",
            ratio=MAX_XLSX_RATIO,
        )
    if size > limit:
        raise LimitExceededError(
            N_(
                "The part %(part)r of the XLSX file unpacks to %(mb)s MB, more than such a"
                " part of a phone list can (%(limit_mb)s MB). Split the list, or export it"
                " as CSV."
            ),
            limit=limit,
            seen=size,
            part=name[:100],
            mb=f"{size / 1024**2:,.0f}",
            limit_mb=f"{limit / 1024**2:,.0f}",
        )
    if name.lower().endswith(_PARSED_SUFFIXES) and size and not _beside_package(name):
        _refuse_dtd(archive, info)


def _beside_package(name: str) -> bool:
    """Files a Mac's archiver adds (``__MACOSX/``, AppleDouble ``._name``): no part of the
    workbook, never read by anyone."""
    return name.startswith("__MACOSX/") or name.rpartition("/")[2].startswith("._")


def _as_utf8(prolog: bytes) -> bytes:
    """The prolog in UTF-8, from UTF-16 where its byte order mark or first bytes say so,
    for the DTD search to see what a parser will."""
    for marks, encoding in (
        ((b"\xff\xfe", b"<\x00"), "utf-16-le"),
        ((b"\xfe\xff", b"\x00<"), "utf-16-be"),
    ):
        if prolog.startswith(marks):
            size = len(prolog) - len(prolog) % 2
            return prolog[:size].decode(encoding, "replace").lstrip("\ufeff").encode()
    return prolog


def _refuse_dtd(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Spreadsheet programs never write a DTD; entity declarations in one are how XML
    bombs (billion laughs) and external-entity reads (XXE) are built."""
    with archive.open(info) as xml:
        prolog = _as_utf8(xml.read(_PROLOG_BYTES))
    root = _ROOT_START.search(prolog)
    if _DTD.search(prolog, 0, root.start() if root else len(prolog)) or root is None:
        raise CorruptFileError(
            N_(
                "The part %(part)r of the XLSX file declares a DTD or entities (or does not"
                " start as XML), which spreadsheet programs never write. Save the file again"
                " from Excel or LibreOffice."
            ),
            part=info.filename[:100],
        )


def open_sheet(path: Path, sheet: str | None = None) -> tuple[Any, BinaryIO, Any]:
    """The workbook openpyxl opened (read-only), its file, and the sheet asked for (else
    the first worksheet), once the package is found safe to read; every reason not to
    read it said in words. The caller closes the book and the file."""
    import openpyxl  # imported here: only XLSX uploads pay for it

    from .sheet_rows import STRICT_XLSX  # with openpyxl: for XLSX only

    _check_package(path)
    if _check_zip(path):
        raise CorruptFileError(STRICT_XLSX)
    # A file object, not the path: openpyxl refuses paths without an Excel extension, and
    # what the file is was decided by its content.
    handle = path.open("rb")
    try:
        book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:
        handle.close()
        if isinstance(exc, MemoryError):
            raise  # the job's memory ceiling: a limit, not damage
        raise CorruptFileError(
            N_(
                "The XLSX file cannot be opened: a part every workbook has is missing or"
                " not as Excel writes it (the reader stopped at %(error)s). Open it in"
                " Excel or LibreOffice, save it as .xlsx and upload the new file."
            ),
            error=type(exc).__name__,
        ) from None
    chosen = book[sheet] if sheet in book.sheetnames else None
    if not book.worksheets or (chosen is not None and not hasattr(chosen, "iter_rows")):
        book.close()
        handle.close()
        raise UnsupportedFileError(
            N_(
                "The workbook has no worksheet to read (only charts, or none at all). Put"
                " the list on a worksheet, save it and upload it again."
            )
        )
    if sheet is not None and sheet not in book.sheetnames:
        book.close()
        handle.close()
        raise UnknownSheetError(
            N_("The workbook has no sheet %(sheet)r; its sheets are %(sheets)s."),
            sheet=sheet,
            sheets=", ".join(book.sheetnames),
        )
    return book, handle, book[sheet] if sheet is not None else book.worksheets[0]


def _open_xlsx(path: Path, phone_column: str | None, sheet: str | None, plain: bool) -> Table:
    from .sheet_rows import Fragments, SheetSource  # with openpyxl: for XLSX only

    book, handle, ws = open_sheet(path, sheet)
    total = ws.max_row if isinstance(ws.max_row, int) and ws.max_row > 1 else None
    source = SheetSource.of(ws)
    rows = _xlsx_rows(book, handle, ws, source)
    header_row, headers, index, rest = _find_header(rows, phone_column)
    # Rows as wide as the widest read so far (the header and the row under it), so that
    # cells right of the last header still reach the export (as "column N"), as with CSV.
    # Not the width the sheet declares (its <dimension>): one cell can claim XFD.
    first = next(rest)
    width = max(len(headers), len(first))
    _check_width(width)
    headers += [""] * (width - len(headers))
    rest = itertools.chain([first + [""] * (width - len(first))], rest)
    table = Table("xlsx", headers, index, header_row, rest, total and total - header_row)
    table.close = rows.close
    if source is not None:
        with zipfile.ZipFile(path) as archive:
            table.sheet_bytes = archive.getinfo(source.member).file_size
        if plain:
            table.fragments = Fragments(path, source, width, header_row, MAX_CELL_CHARS)
    return table


def _xlsx_rows(book: Any, handle: BinaryIO, ws: Any, source: Any) -> Generator[list[str]]:
    from .sheet_rows import sheet_rows

    rows = (
        sheet_rows(source)
        if source is not None
        else ([cell_text(v) for v in values] for values in ws.iter_rows(values_only=True))
    )
    try:
        for number, row in enumerate(rows, start=1):
            if any(len(cell) > MAX_CELL_CHARS for cell in row):
                raise CellTooLargeError(
                    N_(
                        "Row %(row)d has a cell longer than %(chars)s characters; a phone"
                        " list never needs one. Check that the file is the right one."
                    ),
                    row=number,
                    chars=f"{MAX_CELL_CHARS:,}",
                )
            yield row
    except (
        zipfile.BadZipFile,
        EOFError,
        KeyError,
        ValueError,
        IndexError,
        ParseError,
        OverflowError,
    ) as exc:
        raise CorruptFileError(DAMAGED_XLSX, error=type(exc).__name__) from None
    finally:
        book.close()
        handle.close()


# -- header -------------------------------------------------------------------------------


def _norm(header: str) -> str:
    return "".join(header.split()).lower().strip(":：*()（）")


def _phone_index(headers: list[str], wanted: str | None) -> int | None:
    names = [_norm(h) for h in headers]
    if wanted is not None:
        key = _norm(wanted)
        return names.index(key) if key in names else None
    for candidate in PHONE_HEADERS:
        if candidate in names:
            return names.index(candidate)
    for i, name in enumerate(names):
        if any(word in name for word in _PHONE_WORDS):
            return i
    return None


def _find_header(
    rows: Iterator[list[str]], phone_column: str | None
) -> tuple[int, list[str], int, Iterator[list[str]]]:
    """The first row (of the first few) naming a phone column is the header."""
    seen: list[list[str]] = []
    for number, row in enumerate(rows, start=1):
        if not any(cell.strip() for cell in row):
            continue
        index = _phone_index(row, phone_column)
        if index is not None:
            first = next(rows, None)
            if first is None:
                raise NoDataRowsError(N_("The file has a header row but no data rows under it."))
            return number, [cell.strip() for cell in row], index, itertools.chain([first], rows)
        seen.append(row)
        if len(seen) >= HEADER_SEARCH_ROWS:
            break
    if not seen:
        raise EmptyFileError(N_("The file has no rows with content."))
    shown = ", ".join(repr(c.strip()) for c in seen[0] if c.strip())[:300]
    if phone_column is not None:
        raise PhoneColumnNotFoundError(
            N_("No column named %(column)r. The first row has: %(shown)s."),
            column=phone_column,
            shown=shown,
        )
    raise PhoneColumnNotFoundError(
        N_(
            "No phone column found: name it with the phone_column option, or give it a"
            " header such as 手机号, 电话 or phone. The first row has: %(shown)s."
        ),
        shown=shown,
    )
