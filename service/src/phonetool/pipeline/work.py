"""What a worker process does with one chunk of rows: annotate, filter, count, render.

Everything that depends on one row alone happens here, on all cores. What depends on
the rows before it (the duplicate column, the row number in the output sheet) is left to
the main process, which sees the chunks in file order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import N_
from .numbers.masked import is_masked
from .numbers.phones import annotate_chunk
from .summary import Summary
from .writing.render import (
    FORMULA_TRIGGERS,
    ROW_MARK,
    GeneratedCells,
    LineWriter,
    Rendered,
    RowRenderer,
    column_widths,
    neutralise,
    number_cell,
    string_cell,
)

if TYPE_CHECKING:
    from .numbers.phone_info import PhoneInfo
    from .reading.sheet_rows import Fragment, SheetShape

REJECT_EMPTY = N_("empty row")
REJECT_OUTSIDE = N_("outside the selected provinces")
REJECT_NO_PROVINCE = N_("no province (invalid or not a Chinese number)")


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

    first_row: int = 0  # the first row's number in the upload
    keys: list[int] = field(default_factory=list)  # per row: E.164 digits, 0 when none
    kept: list[int] = field(default_factory=list)  # position in the chunk of each kept row
    # UTF-8 already: encoding is spread over the workers, and the main process's
    # row-number substitution is a byte search.
    # Kept rows end with an empty duplicate column, which the main process fills in for
    # the repeats.
    kept_xml: list[bytes] = field(default_factory=list)
    kept_csv: list[bytes] = field(default_factory=list)
    rejected_xml: list[bytes] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)


def process_fragment(fragment: Fragment, shape: SheetShape, layout: Layout) -> list[Chunk]:
    """An XLSX piece: parse its rows here, on all cores; each run of consecutive rows is
    a chunk."""
    from .reading.sheet_rows import fragment_rows  # openpyxl's date helpers: for XLSX only

    return [process_chunk(rows, first, layout) for first, rows in fragment_rows(fragment, shape)]


def process_rows(rows: list[list[str]], first_row: int, layout: Layout) -> list[Chunk]:
    """Rows read in the reading process (CSV): one chunk."""
    return [process_chunk(rows, first_row, layout)]


def process_chunk(rows: list[list[str]], first_row: int, layout: Layout) -> Chunk:
    """Annotate and render ``rows``; ``first_row`` is the first one's row number in the
    upload, as a spreadsheet shows it (the rejected sheet refers to it)."""
    idx = layout.phone_index
    original = layout.original
    wanted = layout.wanted
    phones = [r[idx] if idx < len(r) else "" for r in rows]
    annotations = annotate_chunk(phones, layout.region)
    chunk = Chunk(first_row=first_row, keys=[a.number for a in annotations])
    renderer = RowRenderer(layout.refs[:original])
    generated = _generated(layout.refs[original:])
    csv_lines = LineWriter()
    kept_cells: list[list[str]] = []
    kept_own: list[tuple[str, ...]] = []
    kept_infos: list[PhoneInfo] = []
    shared: dict[int, Rendered] = {}  # the blocks' cells used, by identity
    for position, (row, phone, (info, texts, _)) in enumerate(
        zip(rows, phones, annotations, strict=True)
    ):
        if not "".join(row).strip():
            reason: str | None = REJECT_EMPTY
        elif wanted is not None and info.province not in wanted:
            reason = REJECT_OUTSIDE if info.province else REJECT_NO_PROVINCE
        else:
            reason = None
        if reason is not None:
            chunk.summary.rejected[reason] += 1
            chunk.rejected_xml.append(_rejected_row(first_row + position, reason, phone).encode())
            continue
        cells = [("'" + c) if c.startswith(FORMULA_TRIGGERS) else c for c in row[:original]]
        if len(cells) < original:
            cells += [""] * (original - len(cells))
        elif len(row) > original and any(row[original:]):
            chunk.summary.rows_cut += 1
        own_xml, own_csv = generated.own(texts)
        rest = generated.rest(texts)
        shared[id(rest)] = rest
        kept_cells.append(cells)
        kept_own.append(texts[:2])
        kept_infos.append(info)
        chunk.kept.append(position)
        chunk.kept_xml.append((renderer.row(cells) + own_xml + rest.xml).encode() + b"</row>")
        chunk.kept_csv.append(f"{csv_lines.line(cells)},{own_csv},{rest.csv},\r\n".encode())
    if kept_cells:
        chunk.widths = [
            *column_widths(kept_cells, original),
            *column_widths(kept_own, 2),
            *map(max, zip(*(r.widths for r in shared.values()), strict=True)),
        ]
    chunk.summary.rows_in = len(rows)
    _count(chunk.summary, kept_infos)
    return chunk


_GENERATED: dict[tuple[str, ...], GeneratedCells] = {}


def _generated(refs: tuple[str, ...]) -> GeneratedCells:
    """This worker's renderer of the generated columns at these references: kept across
    chunks, so a block's cells are rendered once per worker, not once per chunk."""
    found = _GENERATED.get(refs)
    if found is None:
        if len(_GENERATED) >= 16:
            _GENERATED.clear()
        found = _GENERATED[refs] = GeneratedCells(refs)
    return found


def _rejected_row(row_number: int, reason: str, phone: str) -> str:
    cells = [number_cell(f"A{ROW_MARK}", row_number), string_cell(f"B{ROW_MARK}", reason)]
    if phone:
        cells.append(string_cell(f"C{ROW_MARK}", neutralise(phone)))
    return f'<row r="{ROW_MARK}">{"".join(cells)}</row>'


def _count(summary: Summary, kept: list[PhoneInfo]) -> None:
    valid = [info for info in kept if info.valid]
    invalid = [info for info in kept if not info.valid and not is_masked(info)]
    summary.rows_out += len(kept)
    summary.valid += len(valid)
    summary.invalid += len(invalid)
    summary.masked += len(kept) - len(valid) - len(invalid)
    summary.by_type.update([i.number_type or "unknown" for i in valid])
    summary.by_province.update([i.province or i.region or "unknown" for i in valid])
    summary.by_carrier.update([i.carrier or "unknown" for i in valid])
    summary.invalid_reasons.update([i.invalid_reason or "unknown" for i in invalid])
