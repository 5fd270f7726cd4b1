"""The XLSX row reader gives what openpyxl gives, and keeps no read row in memory."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

from phonetool.pipeline.phones import cell_text
from phonetool.pipeline.sheet_rows import SheetSource, sheet_rows


def _both_ways(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = book.worksheets[0]
        width = ws.max_column
        source = SheetSource.of(ws)
        assert source is not None  # the pinned openpyxl has what the reader needs
        ours = [row + [""] * (width - len(row)) for row in sheet_rows(source)]
        theirs = [[cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        book.close()
    return ours, theirs


def test_cells_of_every_kind_written_by_openpyxl(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["订单号", "手机号", "金额", "下单时间", "已付", "备注"])
    ws.append(["A1", 13812345678, 12.5, dt.datetime(2026, 11, 24, 9, 30), True, "  空格  "])
    ws.append(["A2", 1.3812345678e10, -3, dt.date(2026, 1, 2), False, "=not a formula"])
    ws["A5"] = "after a gap"  # rows 4 and 5 skipped and resumed
    ws["D5"] = "a gap between columns"
    ws["B6"] = CellRichText(["rich ", TextBlock(InlineFont(b=True), "text")])
    ws["C7"] = "#N/A"
    ws["C7"].data_type = "e"
    ws["A8"] = dt.time(8, 15)
    book.save(tmp_path / "kinds.xlsx")

    ours, theirs = _both_ways(tmp_path / "kinds.xlsx")
    assert ours == theirs
    assert ours[1][:5] == ["A1", "13812345678", "12.5", "2026-11-24 09:30:00", "TRUE"]
    assert ours[3] == [""] * 6  # the skipped row is still a row: row numbers stay right


def test_cells_written_by_xlsxwriter_inline_and_shared(tmp_path: Path) -> None:
    for constant_memory in (True, False):  # inline strings, then a shared string table
        path = tmp_path / f"x-{constant_memory}.xlsx"
        book = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory})
        ws = book.add_worksheet()
        date = book.add_format({"num_format": "yyyy-mm-dd"})
        ws.write_row(0, 0, ["收件人电话", "n", "when", "formula", "control"])
        ws.write_row(1, 0, ["138 1234 5678", 42, None, None, "a\x07b"])
        ws.write_datetime(1, 2, dt.datetime(2026, 3, 1), date)
        ws.write_formula(1, 3, "=1+1", None, 2)
        ws.write_number(2, 1, 1.3812345678e10)
        ws.write_boolean(2, 4, False)
        book.close()

        ours, theirs = _both_ways(path)
        assert ours == theirs
        assert ours[1][2] == "2026-03-01 00:00:00"
        assert ours[1][3] == "2"  # the cached value of the formula


def test_read_rows_are_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "long.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = book.add_worksheet()
    for r in range(20_001):
        ws.write_row(r, 0, [f"SO{r:08d}", "张三", f"138{r:08d}"])
    book.close()

    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        source = SheetSource.of(workbook.worksheets[0])
        assert source is not None
        rows = sheet_rows(source)
        next(rows)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            count = sum(1 for _ in rows)
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    finally:
        workbook.close()
    assert count == 20_000
    assert held < 200_000  # openpyxl's own reader keeps ~100 bytes a row read: 2 MB here


@pytest.mark.parametrize("ref", ["A1", "Z9", "AA10", "XFD1048576"])
def test_column_letters(ref: str) -> None:
    from openpyxl.utils.cell import coordinate_to_tuple

    from phonetool.pipeline.sheet_rows import _column_index

    expected: Any = coordinate_to_tuple(ref)[1] - 1
    assert _column_index(ref.rstrip("0123456789")) == expected
