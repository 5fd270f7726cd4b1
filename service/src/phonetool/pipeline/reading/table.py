"""An opened upload as the pipeline takes it, whatever its format: the header, where the
phone is, and the rows after it; and the bounds every format shares."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import N_, LimitExceededError
from ..numbers.phone_info import FIELDS
from ..sheet_limits import MAX_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .sheet_rows import Fragments


def _nothing() -> None:
    pass


MAX_CELL_CHARS = csv.field_size_limit()  # 131,072: the csv module's own, for XLSX too
#: Columns of the upload the result can keep: a sheet has 16,384 (Excel's limit), and
#: the result adds its own after them.
MAX_INPUT_COLUMNS = MAX_COLUMNS - len(FIELDS) - 1


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


def check_width(columns: int) -> None:
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
