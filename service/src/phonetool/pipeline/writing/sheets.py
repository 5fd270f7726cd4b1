"""Big sheets: rendered rows spooled to disk, then spliced into the workbook xlsxwriter
writes around them.

xlsxwriter writes what it is good at (styles, the header rows, column widths, frozen
panes, the summary sheet) into a small skeleton workbook; every big sheet's rows, already
rendered as SpreadsheetML by the workers, are streamed into its ``<sheetData>`` while the
skeleton is copied into the final ZIP. Memory stays at one read buffer.
"""

from __future__ import annotations

import functools
import itertools
import re
import zipfile
from typing import TYPE_CHECKING, BinaryIO

from .archive import ZipWriter
from .render import ROW_MARK

_MARK = ROW_MARK.encode()

if TYPE_CHECKING:
    from pathlib import Path

#: Excel's last row; the header takes the first.
XLSX_MAX_ROWS = 1_048_576

_DIMENSION = re.compile(r'<dimension ref="[^"]*"/>')
_COPY_BUFFER = 1 << 20


class SheetStream:
    """The rows of one sheet, and of its continuation sheets once Excel's row limit is
    reached, each part in its own file until the workbook is assembled."""

    def __init__(self, folder: Path, prefix: str, name: str) -> None:
        self.name = name
        self.parts: list[Path] = []
        self.last_rows: list[int] = []  # last row number written to each part
        self._folder = folder
        self._prefix = prefix
        self._max_rows = XLSX_MAX_ROWS
        self._row = 1  # the header's
        self._pending: list[bytes] = []
        self._file: BinaryIO | None = None
        self._roll()

    def add(self, rendered: list[bytes]) -> None:
        """Append rendered rows (UTF-8); :data:`ROW_MARK` becomes each one's row number."""
        start = 0
        while start < len(rendered):
            if self._row >= self._max_rows:
                self.flush()
                self._roll()
            part = rendered[start : start + self._max_rows - self._row]
            numbers = range(self._row + 1, self._row + 1 + len(part))
            self._pending += [
                row.replace(_MARK, b"%d" % n) for n, row in zip(numbers, part, strict=True)
            ]
            self._row += len(part)
            start += len(part)
        self.flush()

    def flush(self) -> None:
        if self._pending and self._file is not None:
            self._file.write(b"".join(self._pending))
            self._pending.clear()
        if self.parts:
            self.last_rows[-1] = self._row

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        self.close()
        for part in self.parts:
            part.unlink(missing_ok=True)

    def sheet_names(self) -> list[str]:
        return [self.name if i == 0 else f"{self.name} ({i + 1})" for i in range(len(self.parts))]

    def _roll(self) -> None:
        if self._file is not None:
            self._file.close()
        path = self._folder / f".{self._prefix}.{self.name}-{len(self.parts) + 1}.rows"
        self._file = path.open("wb")
        self.parts.append(path)
        self.last_rows.append(1)
        self._row = 1


def splice(skeleton: Path, target: Path, sheets: dict[str, tuple[Path, str]]) -> None:
    """Copy ``skeleton`` to ``target``, streaming each spooled rows file into its sheet.

    ``sheets`` maps a member name (``xl/worksheets/sheet1.xml``) to the rows file and the
    sheet's new used range (``A1:S1000``).
    """
    with zipfile.ZipFile(skeleton) as src, ZipWriter(target) as out:
        for info in src.infolist():
            spooled = sheets.get(info.filename)
            if spooled is None:
                out.add(info.filename, [src.read(info.filename)], info.date_time)
                continue
            rows, used_range = spooled
            xml = src.read(info.filename).decode("utf-8")
            cut = xml.index("</sheetData>")
            head = _DIMENSION.sub(f'<dimension ref="{used_range}"/>', xml[:cut], count=1)
            with rows.open("rb") as body:
                parts = itertools.chain(
                    [head.encode("utf-8")],
                    iter(functools.partial(body.read, _COPY_BUFFER), b""),
                    [xml[cut:].encode("utf-8")],
                )
                large = rows.stat().st_size > _LARGE_FROM
                out.add(info.filename, parts, info.date_time, large=large)


#: Rows files from this size on get room for ZIP64 sizes: below 4 GiB with room for the
#: sheet's head and tail.
_LARGE_FROM = 3 << 30
