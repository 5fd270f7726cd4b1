"""The XLSX row reader gives what openpyxl gives, and keeps no read row in memory."""

from __future__ import annotations

import datetime as dt
import re
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

from phonetool.pipeline import Options, process_file
from phonetool.pipeline.errors import CellTooLargeError, CorruptFileError
from phonetool.pipeline.numbers.phones import cell_text
from phonetool.pipeline.reading import sheet_rows as module
from phonetool.pipeline.reading.sheet_rows import Fragments, SheetSource, fragment_rows, sheet_rows

from .files import write_csv


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

    from phonetool.pipeline.reading.cells import column_index

    expected: Any = coordinate_to_tuple(ref)[1] - 1
    assert column_index(ref.rstrip("0123456789")) == expected


# -- pieces for the workers -----------------------------------------------------------------


def _orders_with_gaps(path: Path) -> list[list[Any]]:
    """A list as a back office writes it: a title row, the header on row 3, shared strings,
    numbers, rows left out and empty rows; returns the rows as a spreadsheet shows them."""
    book = openpyxl.Workbook()
    ws = book.active
    ws["A1"] = "订单导出 2026-11"
    ws.append([])
    ws.append(["订单号", "收件人", "收件人电话", "金额"])
    shown: list[list[Any]] = [["订单导出 2026-11"], [], ["订单号", "收件人", "收件人电话", "金额"]]
    phones = ["13812345678", "138 1234 5678", "0755-26543210", "n/a", 13912345678]
    row = 4
    for i in range(60):
        if i % 7 == 3:
            row += 2  # two rows left out of the XML
            shown += [[], []]
        values = [f"SO{i:04d}", "张三" if i % 2 else "李四", phones[i % len(phones)], i * 1.5]
        for col, value in enumerate(values, start=1):
            ws.cell(row=row, column=col, value=value)
        shown.append(values)
        row += 1
    book.save(path)
    return shown


@pytest.mark.parametrize("workers", [1, 2])
def test_xlsx_cut_into_pieces_gives_what_the_same_list_as_csv_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:

    shown = _orders_with_gaps(tmp_path / "orders.xlsx")
    as_text = [[cell_text(v) for v in r] + [""] * (4 - len(r)) for r in shown]
    write_csv(tmp_path / "orders.csv", as_text)
    monkeypatch.setattr(module, "FRAGMENT_BYTES", 300)  # a piece holds a row or two

    options = Options(workers=workers)
    from_xlsx = process_file(tmp_path / "orders.xlsx", tmp_path / "x", options)
    from_csv = process_file(tmp_path / "orders.csv", tmp_path / "c", options)

    assert from_xlsx.csv.read_bytes() == from_csv.csv.read_bytes()
    # Rows the sheet leaves out of its XML are not rows of the list (a far row costs
    # nothing); the CSV holds them as empty lines, which are rejected as empty rows.
    left_out = 18
    assert from_csv.summary["rejected"] == {"empty row": left_out}
    assert from_xlsx.summary["rejected"] == {}
    assert from_xlsx.summary["rows_in"] == from_csv.summary["rows_in"] - left_out
    same = ("rows_out", "valid", "invalid", "duplicates", "by_province", "by_carrier")
    assert {k: from_xlsx.summary[k] for k in same} == {k: from_csv.summary[k] for k in same}
    assert from_xlsx.summary["duplicates"] > 0  # repeats across pieces were found


def _phone_sheet_rewritten(folder: Path, rows: int, change: Callable[[bytes], bytes]) -> Path:
    """A phone list written by xlsxwriter, its sheet XML then changed as another writer
    would have written it."""
    plain = folder / "plain.xlsx"
    book = xlsxwriter.Workbook(str(plain))
    ws = book.add_worksheet()
    for r in range(rows):
        ws.write_row(r, 0, ["手机号", "n"] if r == 0 else [f"1381234{r:04d}", str(r)])
    book.close()
    changed = folder / "changed.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(changed, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                data = change(data)
            out.writestr(info, data)
    return changed


def test_pieces_of_a_sheet_without_row_and_cell_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # References are optional in SpreadsheetML; some writers leave them out.
    bare = _phone_sheet_rewritten(tmp_path, 40, lambda xml: re.sub(rb' r="[A-Z]*[0-9]+"', b"", xml))

    workbook = openpyxl.load_workbook(bare, read_only=True)
    try:
        source = SheetSource.of(workbook.worksheets[0])
        assert source is not None
        whole = list(sheet_rows(source))
        monkeypatch.setattr(module, "FRAGMENT_BYTES", 200)
        pieces = Fragments(bare, source, width=2, header_row=1, max_cell=1000)
        parsed = [run for f in pieces for run in fragment_rows(f, pieces.shape)]  # type: ignore[arg-type]
    finally:
        workbook.close()
    assert len(parsed) > 3
    assert [r for _, rows in parsed for r in rows] == whole[1:]
    assert [first for first, _ in parsed][:2] == [2, 2 + len(parsed[0][1])]


def test_a_huge_cell_deep_in_an_xlsx_is_refused_by_the_worker(tmp_path: Path) -> None:
    # Beyond Excel's own limit of 32,767 characters, which the writers enforce: the cell is
    # put into the sheet XML afterwards.

    written = tmp_path / "written.xlsx"
    book = xlsxwriter.Workbook(str(written), {"constant_memory": True})
    ws = book.add_worksheet()
    ws.write_row(0, 0, ["手机号", "备注"])
    for r in range(1, 50):
        ws.write_row(r, 0, ["13812345678", "HUGE" if r == 40 else "x"])
    book.close()
    path = tmp_path / "huge.xlsx"
    with zipfile.ZipFile(written) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            out.writestr(info, data.replace(b"HUGE", b"x" * 140_000))

    with pytest.raises(CellTooLargeError, match="Row 41"):
        process_file(path, tmp_path / "out", Options(workers=2))
    assert not list((tmp_path / "out").glob("*"))


def test_pieces_of_a_sheet_whose_elements_carry_a_namespace_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # <x:row> instead of <row>: the same namespace, named; some generators write it so.
    def prefix(xml: bytes) -> bytes:
        xml = re.sub(rb"<(/?)(?=[a-zA-Z])", rb"<\1x:", xml)
        return xml.replace(b"<x:worksheet xmlns=", b"<x:worksheet xmlns:x=")

    prefixed = _phone_sheet_rewritten(tmp_path, 30, prefix)
    monkeypatch.setattr(module, "FRAGMENT_BYTES", 150)

    result = process_file(prefixed, tmp_path / "out", Options(workers=1))
    assert result.summary["rows_in"] == 29
    assert result.summary["valid"] == 29


@pytest.mark.parametrize("workers", [1, 2])
def test_damage_deep_in_the_sheet_is_a_clear_error(tmp_path: Path, workers: int) -> None:

    path = tmp_path / "damaged.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = book.add_worksheet()
    ws.write_row(0, 0, ["手机号", "备注"])
    for r in range(1, 20_000):
        ws.write_row(r, 0, [f"138{r:08d}", f"note {r * 7919 % 104729}"])
    book.close()
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    name_and_extra = int.from_bytes(
        data[info.header_offset + 26 : info.header_offset + 28], "little"
    )
    name_and_extra += int.from_bytes(
        data[info.header_offset + 28 : info.header_offset + 30], "little"
    )
    start = info.header_offset + 30 + name_and_extra
    middle = start + info.compress_size * 3 // 4
    data[middle : middle + 64] = bytes(64)  # zeros in the deflate stream, past the header
    path.write_bytes(bytes(data))

    with pytest.raises(CorruptFileError, match="damaged"):
        process_file(path, tmp_path / "out", Options(workers=workers))
    assert not list((tmp_path / "out").glob("*"))
