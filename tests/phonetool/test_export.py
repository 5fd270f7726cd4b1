"""The exports' own writer: what spreadsheets make of awkward text, long lists, repeats."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils.escape import unescape

from phonetool.pipeline import Options, process_file
from phonetool.pipeline.seen import FirstRows
from phonetool.pipeline.writing import sheets
from phonetool.pipeline.writing.render import ROW_MARK, GeneratedCells, LineWriter, RowRenderer

from .files import write_csv

HEADER = ["订单号", "备注", "手机号"]


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def _xlsx_rows(path: Path, sheet: str) -> list[list[str]]:
    """Cell text as Excel shows it: openpyxl leaves OOXML's ``_xHHHH_`` escapes of control
    characters encoded (Excel decodes them), so decode them here."""
    book = openpyxl.load_workbook(path)
    try:
        rows = book[sheet].iter_rows(values_only=True)
        return [["" if v is None else unescape(str(v)) for v in r] for r in rows]
    finally:
        book.close()


AWKWARD = [
    "Tom & Jerry <tj@example.com>",
    "  leading and trailing spaces  ",
    "bell\x07and\x1fcontrol",
    "_x0041_ looks like an escape",
    "换行\n两行",
    "emoji 📞 and 全角",
    "a" * 2000,
]


@pytest.mark.parametrize("workers", [1, 2])
def test_awkward_text_reads_back_exactly_in_both_exports(tmp_path: Path, workers: int) -> None:
    rows = [[f"A{i}", text, "13812345678"] for i, text in enumerate(AWKWARD)]
    src = write_csv(tmp_path / "o.csv", [HEADER, *rows])
    result = process_file(src, tmp_path / "out", Options(workers=workers, chunk_size=3))

    from_xlsx = _xlsx_rows(result.xlsx, "data")
    from_csv = _csv_rows(result.csv)
    assert [r[1] for r in from_csv[1:]] == AWKWARD
    assert [r[1] for r in from_xlsx[1:]] == AWKWARD
    assert from_xlsx == from_csv


def test_a_list_longer_than_a_sheet_continues_on_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sheets, "XLSX_MAX_ROWS", 4)  # header + 3 rows a sheet
    rows = [[f"A{i}", "", f"1381234{i:04d}"] for i in range(8)]
    rows.append(["", "", ""])  # an empty row: rejected
    src = write_csv(tmp_path / "o.csv", [HEADER, *rows])
    result = process_file(src, tmp_path / "out", Options(workers=1, chunk_size=2))

    book = openpyxl.load_workbook(result.xlsx)
    assert book.sheetnames == ["data", "data (2)", "data (3)", "rejected", "summary"]
    assert book["data (2)"].freeze_panes == "A2"
    kept: list[Any] = []
    for name in ("data", "data (2)", "data (3)"):
        sheet_rows = _xlsx_rows(result.xlsx, name)
        assert sheet_rows[0] == _csv_rows(result.csv)[0]  # every part has the header
        kept += [r[0] for r in sheet_rows[1:]]
    assert kept == [f"A{i}" for i in range(8)]
    assert _xlsx_rows(result.xlsx, "rejected")[1:] == [["10", "empty row", ""]]


def test_repeats_across_chunks_point_at_the_first_row(tmp_path: Path) -> None:
    numbers = ["13812345678", "13912345678", "+86 138 1234 5678", "0086 13912345678", "13812345678"]
    rows = [[f"A{i}", "", n] for i, n in enumerate(numbers)]
    src = write_csv(tmp_path / "o.csv", [HEADER, *rows])
    result = process_file(src, tmp_path / "out", Options(workers=2, chunk_size=2))

    out = _csv_rows(result.csv)
    assert [r[-1] for r in out[1:]] == ["", "", "2", "3", "2"]
    assert result.summary["duplicates"] == 3
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_first_rows_remembers_across_calls(tmp_path: Path) -> None:
    with FirstRows(tmp_path) as first_rows:
        assert first_rows.duplicates_of([11, 0, 12, 11], 2) == [0, 0, 0, 2]
        assert first_rows.duplicates_of([12, 13, 0], 6) == [4, 0, 0]
        many = list(range(100, 3100))  # more numbers than one query may bind
        assert first_rows.duplicates_of(many, 10) == [0] * 3000
        assert first_rows.duplicates_of(many[::-1], 5000) == list(range(3009, 9, -1))
    assert list(tmp_path.iterdir()) == []


@given(
    texts=st.lists(
        st.sampled_from(["", "+8613812345678", "138 1234 5678", " edge ", "a,b", 'q"', "<&>"])
        | st.text(max_size=6),
        min_size=12,
        max_size=12,
    ).map(tuple)
)
@settings(max_examples=300, deadline=None)
def test_generated_cells_are_rendered_as_any_cells(texts: tuple[str, ...]) -> None:
    # The number's own cells take a shortcut for plain text and the block's cells are
    # reused: both must give what rendering the twelve cells afresh gives.
    refs = tuple(f"{c}{ROW_MARK}" for c in "FGHIJKLMNOPQ")
    generated = GeneratedCells(refs)
    own_xml, own_csv = generated.own(texts)
    for _ in range(2):  # rendered, then reused
        rest = generated.rest(texts)
        assert own_xml + rest.xml == RowRenderer(refs).cells(texts)
        assert f"{own_csv},{rest.csv}" == LineWriter().line(texts)
