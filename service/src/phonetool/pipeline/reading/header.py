"""Which row is the header, and which of its columns holds the phone: the first of the
first rows that names one, in Chinese or English, as back offices write it."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, NamedTuple

from ..errors import N_, EmptyFileError, NoDataRowsError, PhoneColumnNotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterator


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
HEADER_SEARCH_ROWS = 20


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


class Header(NamedTuple):
    """The header found: its row number (from 1), its cells (stripped), which of them is
    the phone, and the rows under it."""

    row: int
    names: list[str]
    phone_index: int
    rest: Iterator[list[str]]


def find_header(rows: Iterator[list[str]], phone_column: str | None) -> Header:
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
            names = [cell.strip() for cell in row]
            return Header(number, names, index, itertools.chain([first], rows))
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
