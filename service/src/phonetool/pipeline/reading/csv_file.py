"""A CSV upload opened as a table: its encoding decided on its start (UTF-8, GB18030,
else the best guess), its delimiter sniffed, its lines bounded while they are read."""

from __future__ import annotations

import codecs
import csv
import io
from typing import TYPE_CHECKING, Any

import charset_normalizer

from ..errors import (
    N_,
    BinaryFileError,
    CellTooLargeError,
    CorruptFileError,
    EncodingError,
    LimitExceededError,
)
from .header import find_header
from .table import MAX_CELL_CHARS, Table, check_width

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


SAMPLE_BYTES = 256 * 1024

#: Characters of one CSV row (all its lines, when quoted cells hold line breaks), checked
#: as each line is read: a row of 16,384 columns of ten characters is 180,000; without a
#: bound, one "line" of 200 MB of commas is 69 million fields held at once.
MAX_CSV_ROW_CHARS = 4 * 1024 * 1024


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
            _refuse_mixed(sample)  # not UTF-8 throughout: is it UTF-8 in part?
            continue
        return encoding
    best = charset_normalizer.from_bytes(sample).best()
    if best is None:
        raise EncodingError(
            N_("The text encoding of the file could not be recognised. Save it as CSV UTF-8.")
        )
    return str(best.encoding)


def _is_cjk_utf8(line: bytes) -> bool:
    """Whether the line is UTF-8 with Chinese in it: a GBK line is that by chance only
    when short, and then holds no character of the CJK blocks."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in text)


def _refuse_mixed(sample: bytes) -> None:
    """Refuse a file whose lines are in two encodings (rows pasted together from an export
    in UTF-8 and one in GBK): read as either, part of it would be mojibake."""
    lines = sample.split(b"\n")[:-1]  # the last may be cut off inside a character
    first: tuple[int, bool] | None = None
    for number, line in enumerate(lines, 1):
        if line.isascii():
            continue
        utf8 = _is_cjk_utf8(line)
        if not utf8:
            try:
                line.decode("utf-8")
                continue  # UTF-8 without Chinese: says nothing either way
            except UnicodeDecodeError:
                pass
        if first is None:
            first = (number, utf8)
        elif utf8 != first[1]:
            raise EncodingError(
                N_(
                    "The file mixes text encodings: line %(first)s is in %(first_encoding)s,"
                    " line %(line)s in %(encoding)s. Open it in a spreadsheet or text editor"
                    " and save all of it again as CSV UTF-8."
                ),
                first=first[0],
                first_encoding="UTF-8" if first[1] else "GBK",
                line=number,
                encoding="UTF-8" if utf8 else "GBK",
            )


def _check_text(sample: str) -> None:
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if sample and controls / len(sample) > 0.05:
        raise BinaryFileError(
            N_(
                "The file does not look like text (too many control characters). Upload the"
                " phone list as CSV or XLSX."
            )
        )


def open_csv(path: Path, phone_column: str | None) -> Table:
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
    header_row, headers, index, rest = find_header(rows, phone_column)
    # Rows wider than the header (a stray delimiter in an address, say) keep their extra
    # cells as "column N", as far as the sample shows them; the workers count any cut.
    width = _widest_row(text_sample, delimiter)
    check_width(max(width, len(headers)))
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
