"""What a worker process does with one chunk of rows: annotate, filter, count, render.

Everything that depends on one row alone happens here, on all cores. What depends on
the rows before it (the duplicate column, the row number in the output sheet) is left to
the main process, which sees the chunks in file order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .phones import PhoneInfo, normalise_chunk
from .render import (
    ROW_MARK,
    LineWriter,
    RowRenderer,
    neutralise,
    number_cell,
    string_cell,
    width,
)
from .summary import Summary

REJECT_EMPTY = "empty row"
REJECT_OUTSIDE = "outside the selected provinces"
REJECT_NO_PROVINCE = "no province (invalid or not a Chinese number)"


@dataclass(frozen=True)
class Layout:
    """How rows of this file become output rows; the same for every chunk."""

    phone_index: int
    original: int  # columns of the upload kept in the output
    region: str
    wanted: frozenset[str] | None  # provinces to keep; None keeps all
    refs: tuple[str, ...]  # cell references of the data columns, row number as ROW_MARK


@dataclass
class Chunk:
    """One chunk's rows, rendered, in file order."""

    keys: list[int] = field(default_factory=list)  # per row: E.164 digits, 0 when none
    kept: list[int] = field(default_factory=list)  # position in the chunk of each kept row
    kept_xml: list[str] = field(default_factory=list)  # without "</row>"
    kept_csv: list[str] = field(default_factory=list)  # without the duplicate column
    rejected_xml: list[str] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)


def process_chunk(rows: list[list[str]], first_row: int, layout: Layout) -> Chunk:
    """Annotate and render ``rows``; ``first_row`` is the first one's row number in the
    upload, as a spreadsheet shows it (the rejected sheet refers to it)."""
    idx = layout.phone_index
    infos = normalise_chunk([r[idx] if idx < len(r) else "" for r in rows], layout.region)
    chunk = Chunk(widths=[0] * len(layout.refs))
    csv_lines = LineWriter()
    renderer = RowRenderer(layout.refs)
    widths = chunk.widths
    for position, (row, info) in enumerate(zip(rows, infos, strict=True)):
        chunk.keys.append(int(info.e164[1:]) if info.e164 else 0)
        reason = _rejection(row, info, layout.wanted)
        if reason is not None:
            phone = row[idx] if idx < len(row) else ""
            chunk.summary.rejected[reason] += 1
            chunk.rejected_xml.append(_rejected_row(first_row + position, reason, phone))
            continue
        _count(chunk.summary, info)
        cells = [neutralise(c) for c in row[: layout.original]]
        cells += [""] * (layout.original - len(cells))
        cells += [_text(v) for v in info]
        for col, text in enumerate(cells):
            if 2 * len(text) > widths[col]:  # width() is at most twice the length
                widths[col] = max(widths[col], width(text))
        chunk.kept.append(position)
        chunk.kept_xml.append(renderer.row(cells))
        chunk.kept_csv.append(csv_lines.line(cells))
    chunk.summary.rows_in = len(rows)
    return chunk


def _rejection(row: list[str], info: PhoneInfo, wanted: frozenset[str] | None) -> str | None:
    if not any(cell.strip() for cell in row):
        return REJECT_EMPTY
    if wanted is not None and info.province not in wanted:
        return REJECT_OUTSIDE if info.province else REJECT_NO_PROVINCE
    return None


def _rejected_row(row_number: int, reason: str, phone: str) -> str:
    cells = [number_cell(f"A{ROW_MARK}", row_number), string_cell(f"B{ROW_MARK}", reason)]
    if phone:
        cells.append(string_cell(f"C{ROW_MARK}", neutralise(phone)))
    return f'<row r="{ROW_MARK}">{"".join(cells)}</row>'


def _count(summary: Summary, info: PhoneInfo) -> None:
    summary.rows_out += 1
    if info.valid:
        summary.valid += 1
        summary.by_type[info.number_type or "unknown"] += 1
        summary.by_province[info.province or info.region or "unknown"] += 1
        summary.by_carrier[info.carrier or "unknown"] += 1
    else:
        summary.invalid += 1
        summary.invalid_reasons[info.invalid_reason or "unknown"] += 1


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
