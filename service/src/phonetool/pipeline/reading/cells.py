"""What a sheet cell's stored value means as text, with the conversions of openpyxl's
cell parser; shared by the element reader and the plain-shape scanner of sheet XML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openpyxl.utils.datetime import from_excel, from_ISO8601

from ..errors import N_, LimitExceededError
from ..numbers.phones import cell_text
from ..sheet_limits import MAX_COLUMNS, MAX_ROWS

if TYPE_CHECKING:
    from datetime import datetime

#: The shared strings: the whole table, or a fragment's share of it.
Shared = Sequence[str] | Mapping[int, str]


@dataclass(frozen=True)
class CellRules:
    """How a number cell becomes text: which styles are dates or durations, and the
    workbook's date epoch. Small and picklable, for the workers."""

    dates: frozenset[int]
    timedeltas: frozenset[int]
    epoch: datetime


def stored_text(
    kind: str, value: str | None, style: str | None, shared: Shared, rules: CellRules
) -> str:
    """The text of a cell that is not an inline string, from its type (``t``), its
    ``<v>`` and its style (``s``)."""
    if not value:
        return ""
    if kind == "s":
        return str(shared[int(value)])
    if kind == "n":
        number: int | float = (
            float(value) if "." in value or "E" in value or "e" in value else int(value)
        )
        if style and int(style) in rules.dates:
            return _date_text(number, int(style), rules)
        return cell_text(number)
    if kind == "b":
        return cell_text(bool(int(value)))
    if kind == "d":
        return cell_text(from_ISO8601(value))
    return value  # "str" (a formula's text result) and "e" (an error such as #N/A)


def column_index(letters: str) -> int:
    """0 for A, 25 for Z, 26 for AA; a column past XFD is an error, before any cell of
    the row is padded out to it."""
    index = 0
    for ch in letters[:4].upper():
        index = index * 26 + ord(ch) - 64
    if index > MAX_COLUMNS or len(letters) > 3:
        raise LimitExceededError(
            N_(
                "A cell is in column %(column)s, past the last column a sheet can have (XFD,"
                " the %(last)sth). The file is damaged or was not written by a spreadsheet"
                " program; save it again from Excel or LibreOffice."
            ),
            limit=MAX_COLUMNS,
            seen=index,
            column=letters[:12],
            last=f"{MAX_COLUMNS:,}",
        )
    return index - 1


def check_row_number(number: int) -> int:
    """``number``, if a sheet can have such a row."""
    if number > MAX_ROWS or number < 1:
        raise LimitExceededError(
            N_(
                "The sheet has a row numbered %(row)s; a sheet has rows 1 to %(rows)s. The"
                " file is damaged or was not written by a spreadsheet program; save it again"
                " from Excel or LibreOffice."
            ),
            limit=MAX_ROWS,
            seen=number,
            row=f"{number:,}",
            rows=f"{MAX_ROWS:,}",
        )
    return number


def _date_text(number: float, style: int, rules: CellRules) -> str:
    try:
        moment = from_excel(number, rules.epoch, timedelta=style in rules.timedeltas)
    except (OverflowError, ValueError):
        return "#VALUE!"  # a date style on a serial outside the dates: openpyxl's answer
    return cell_text(moment)
