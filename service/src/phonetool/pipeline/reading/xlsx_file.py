"""An XLSX upload opened as a table: the package checked before anything reads it (ZIP
bombs, parts too large, DTDs, encryption, Strict), the workbook opened by openpyxl (its
shared strings by ``shared_strings``), the header found by the full XML parser, and the
rows handed on as pieces for the workers (``sheet_rows.Fragments``)."""

from __future__ import annotations

import itertools
import re
import zipfile
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple
from xml.etree.ElementTree import ParseError, iterparse

from ..errors import (
    DAMAGED_XLSX,
    N_,
    CellTooLargeError,
    CorruptFileError,
    FileTooLargeError,
    LimitExceededError,
    UnknownSheetError,
    UnsupportedFileError,
)
from ..numbers.phones import cell_text
from .header import find_header
from .table import MAX_CELL_CHARS, Table, check_width

if TYPE_CHECKING:
    from collections.abc import Generator
    from pathlib import Path


#: Unpacked bytes of any one part of an XLSX file (a sheet of a million rows is ~500 MB).
MAX_XLSX_PART = 1024**3
#: A part larger than this must not unpack to more than MAX_XLSX_RATIO times its packed
#: size: real sheets pack 5-15x; a ZIP bomb packs 1000x. Checked part by part, so a large
#: random part stored alongside cannot dilute the ratio.
XLSX_RATIO_FROM = 50 * 1024**2
MAX_XLSX_RATIO = 200
#: Unpacked bytes of the shared strings, which are read whole before any row is read
#: (``shared_strings``): a million rows of five distinct texts each is ~200 MB.
MAX_SHARED_STRINGS = 256 * 1024**2
#: Unpacked bytes of the other parts openpyxl loads whole (workbook, styles, relations).
MAX_XLSX_METADATA = 32 * 1024**2

#: The first bytes of an OLE compound file: an old .xls, or an encrypted .xlsx, which
#: Excel wraps in one (streams "EncryptionInfo" and "EncryptedPackage").
COMPOUND_FILE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
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


def _check_package(path: Path) -> None:
    """A ZIP archive, as every XLSX workbook is; else say what the file is instead."""
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        return
    if head.startswith(COMPOUND_FILE) and _is_encrypted_workbook(path):
        raise UnsupportedFileError(
            N_(
                "The workbook is protected by a password, so it cannot be read. Open it in"
                " Excel, remove the password (File, Info, Protect Workbook, Encrypt with"
                " Password), save it and upload it again."
            )
        )
    if head.startswith(COMPOUND_FILE) or path.suffix.lower() == ".xls":
        raise UnsupportedFileError(
            N_("Old Excel .xls files are not supported. Save the sheet as .xlsx or .csv.")
        )
    raise CorruptFileError(
        N_(
            "The file is named .xlsx but is not an XLSX workbook (it is not a ZIP"
            " archive). Open it in Excel or LibreOffice and save it as .xlsx again."
        )
    )


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


class OpenedSheet(NamedTuple):
    """The workbook openpyxl opened (read-only), the file under it, and the sheet."""

    book: Any
    handle: BinaryIO
    sheet: Any


def open_sheet(path: Path, sheet: str | None = None) -> OpenedSheet:
    """The workbook openpyxl opened (read-only), its file, and the sheet asked for (else
    the first worksheet), once the package is found safe to read; every reason not to
    read it said in words. The caller closes the book and the file."""
    from .sheet_rows import STRICT_XLSX  # with openpyxl: for XLSX only

    _check_package(path)
    if _check_zip(path):
        raise CorruptFileError(STRICT_XLSX)
    # A file object, not the path: openpyxl refuses paths without an Excel extension, and
    # what the file is was decided by its content.
    handle = path.open("rb")
    try:
        book = _load_workbook(handle)
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
    return OpenedSheet(book, handle, book[sheet] if sheet is not None else book.worksheets[0])


def _load_workbook(handle: BinaryIO) -> Any:
    """openpyxl's ``load_workbook(read_only=True, data_only=True)``, with the shared
    strings read by ``shared_strings`` (the same texts, several times faster)."""
    from openpyxl.reader.excel import ExcelReader  # imported here: only XLSX uploads pay
    from openpyxl.xml.constants import SHARED_STRINGS

    from .shared_strings import read_shared_strings

    class Reader(ExcelReader):  # type: ignore[misc]
        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as xml:
                    self.shared_strings = read_shared_strings(xml)

    reader = Reader(handle, read_only=True, data_only=True)
    reader.read()
    return reader.wb


def open_xlsx(path: Path, phone_column: str | None, sheet: str | None, plain: bool) -> Table:
    from .sheet_rows import Fragments, SheetSource  # with openpyxl: for XLSX only

    book, handle, ws = open_sheet(path, sheet)
    total = ws.max_row if isinstance(ws.max_row, int) and ws.max_row > 1 else None
    source = SheetSource.of(ws)
    rows = _xlsx_rows(book, handle, ws, source)
    header_row, headers, index, rest = find_header(rows, phone_column)
    # Rows as wide as the widest read so far (the header and the row under it), so that
    # cells right of the last header still reach the export (as "column N"), as with CSV.
    # Not the width the sheet declares (its <dimension>): one cell can claim XFD.
    first = next(rest)
    width = max(len(headers), len(first))
    check_width(width)
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
