"""Open an uploaded CSV or XLSX as a header and a stream of rows, in constant memory.

Everything a member can get wrong about a file ends as an ``InputError`` naming the
problem: an encoding we cannot read, binary junk with a .csv name, a truncated XLSX, a ZIP
bomb, a cell larger than any phone list needs, a header without a phone column. The
formats are read by ``csv_file`` and ``xlsx_file``; the header is found by ``header``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import N_, EmptyFileError
from .csv_file import open_csv
from .table import Table
from .xlsx_file import COMPOUND_FILE, open_xlsx

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Table", "open_table"]


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
    if head.startswith((b"PK\x03\x04", COMPOUND_FILE)) or _named_excel(path):
        return open_xlsx(path, phone_column, sheet, plain)
    return open_csv(path, phone_column)


def _named_excel(path: Path) -> bool:
    return path.suffix.lower() in (".xlsx", ".xlsm", ".xls")
