"""The whole pipeline on real files, read back by independent readers."""

from __future__ import annotations

import csv
import gc
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetool.pipeline import InputError, Options, process_file
from phonetool.pipeline.errors import UnknownProvinceError
from phonetool.pipeline.run import EXTRA_COLUMNS, _pool

from .files import HEADER, ROWS, write_csv, write_xlsx_xlsxwriter


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def _sheet_rows(path: Path, name: str) -> list[list[Any]]:
    book = openpyxl.load_workbook(path)
    try:
        return [
            ["" if v is None else v for v in row] for row in book[name].iter_rows(values_only=True)
        ]
    finally:
        book.close()


def test_exports_read_back_match_each_other_and_the_input(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "订单.csv", [HEADER, *ROWS], "gbk")
    result = process_file(src, tmp_path / "out", Options(workers=1))

    from_csv = _csv_rows(result.csv)
    from_xlsx = [[str(v) for v in row] for row in _sheet_rows(result.xlsx, "data")]
    assert result.xlsx.name == "订单.xlsx"
    assert from_csv == from_xlsx
    assert from_csv[0] == HEADER + EXTRA_COLUMNS
    assert [row[:2] for row in from_csv[1:]] == [r[:2] for r in ROWS]
    assert result.csv.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel


def test_annotation_duplicates_and_summary(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "o.csv", [HEADER, *ROWS])
    result = process_file(src, tmp_path / "out", Options(workers=1))
    rows = _csv_rows(result.csv)
    col = {name: rows[0].index(name) for name in EXTRA_COLUMNS}

    first, second, third, bad, again = rows[1], rows[2], rows[3], rows[4], rows[5]
    assert first[col["e164"]] == "+8613812345678"
    assert first[col["province"]] == "江苏省"
    assert second[col["e164"]] == "+8613912345678"
    assert third[col["number_type"]] == "fixed_line"
    assert third[col["province"]] == "广东省"
    assert bad[col["valid"]] == "no"
    assert bad[col["invalid_reason"]] == "not a number"
    assert again[col["duplicate_of_row"]] == "2"  # spreadsheet row of the first A001
    assert result.summary["duplicates"] == 1
    assert result.summary["valid"] == 4
    assert result.summary["invalid"] == 2
    assert result.summary["by_province"] == {"江苏省": 3, "广东省": 1}


def test_formula_cells_are_neutralised_in_both_formats(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "o.csv", [HEADER, *ROWS, ["@SUM(1)", "-2+3", "+1", "\tx"]])
    result = process_file(src, tmp_path / "out", Options(workers=1))

    csv_cells = [c for row in _csv_rows(result.csv)[1:] for c in row[:4]]
    book = openpyxl.load_workbook(result.xlsx)
    xlsx_cells = [c for row in book["data"].iter_rows(min_row=2) for c in row[:4]]
    assert '\'=HYPERLINK("http://x")' in csv_cells
    assert {"'@SUM(1)", "'-2+3", "'+1", "'\tx"} <= set(csv_cells)
    assert not any(c.startswith(("=", "+", "-", "@", "\t")) for c in csv_cells)
    assert all(c.data_type == "s" for c in xlsx_cells if c.value is not None)  # no formulas
    assert not any(str(c.value).startswith(("=", "@")) for c in xlsx_cells if c.value)


def test_xlsx_output_is_styled_for_people(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "o.csv", [HEADER, *ROWS])
    result = process_file(src, tmp_path / "out", Options(workers=1))
    book = openpyxl.load_workbook(result.xlsx)
    data = book["data"]

    assert book.sheetnames == ["data", "rejected", "summary"]
    assert data.freeze_panes == "A2"
    assert data["A1"].font.b
    assert data.column_dimensions["C"].width > 10
    summary = {r[0]: r[1] for r in book["summary"].iter_rows(values_only=True) if r[0]}
    assert summary["rows read"] == len(ROWS)
    assert summary["中国移动"] == 3


def test_province_filter_rejects_the_rest_with_reasons(tmp_path: Path) -> None:
    src = write_xlsx_xlsxwriter(tmp_path / "o.xlsx", [HEADER, *ROWS])
    result = process_file(src, tmp_path / "out", Options(nationwide=False, provinces=("广东",)))

    kept = _csv_rows(result.csv)[1:]
    rejected = _sheet_rows(result.xlsx, "rejected")[1:]
    assert [r[0] for r in kept] == ["A003"]
    assert sorted(r[1] for r in rejected) == sorted(
        ["outside the selected provinces"] * 3
        + ["no province (invalid or not a Chinese number)"] * 2
    )
    assert {r[0] for r in rejected} == {2, 3, 5, 6, 7}


def test_unknown_province_is_an_input_error(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "o.csv", [HEADER, *ROWS])
    with pytest.raises(UnknownProvinceError, match="Atlantis"):
        process_file(src, tmp_path / "out", Options(nationwide=False, provinces=("Atlantis",)))


def test_worker_processes_give_the_same_result_as_one_process(tmp_path: Path) -> None:
    rows = [HEADER] + [[f"A{i}", "x", f"13{i % 10}{i:08d}", ""] for i in range(5000)]
    src = write_csv(tmp_path / "big.csv", rows)
    seen: list[tuple[int, int | None]] = []

    one = process_file(src, tmp_path / "one", Options(workers=1))
    two = process_file(
        src,
        tmp_path / "two",
        Options(workers=2, chunk_size=300),
        progress=lambda d, t: seen.append((d, t)),
    )

    assert one.csv.read_bytes() == two.csv.read_bytes()
    assert one.summary == two.summary
    assert seen[-1] == (5000, 5000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_workers_leave_the_shared_phone_data_to_the_fork_server() -> None:
    # The workers inherit the fork server's frozen objects (the phone data it loaded)
    # and its collector threshold; a worker that loaded its own would show neither.
    pool = _pool(2)
    frozen = pool.submit(gc.get_freeze_count).result()
    threshold = pool.submit(gc.get_threshold).result()

    assert frozen > 10_000
    assert threshold[0] > gc.get_threshold()[0]


def test_bad_input_leaves_no_half_written_files(tmp_path: Path) -> None:
    src = tmp_path / "huge.csv"
    src.write_text("手机号\n" + "13812345678\n" * 10 + "x" * 200_000 + "\n")
    with pytest.raises(InputError):
        process_file(src, tmp_path / "out", Options(workers=1))

    assert list((tmp_path / "out").iterdir()) == []


cells = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("0123456789 +-"),
    max_size=20,
)


@given(rows=st.lists(st.lists(cells, min_size=0, max_size=3), min_size=1, max_size=25))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_every_input_row_is_exported_or_reported_once(
    tmp_path: Path, rows: list[list[str]]
) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["手机号", "备注"], *rows])
    src = tmp_path / "p.csv"
    src.write_text(buffer.getvalue(), encoding="utf-8")
    out = tmp_path / "out"
    try:
        result = process_file(src, out, Options(workers=1), stem="p")
    except InputError:
        return  # e.g. every row blank: a clear error is an allowed answer
    exported = len(_csv_rows(result.csv)) - 1
    reported = len(_sheet_rows(result.xlsx, "rejected")) - 1
    s = result.summary
    assert exported == s["rows_out"]
    assert reported == sum(s["rejected"].values())
    assert exported + reported == s["rows_in"] == len(rows)


def test_cells_beyond_the_header_are_kept_or_counted_never_dropped_silently(
    tmp_path: Path,
) -> None:
    # An address with a stray comma makes a row one cell wider than the header.
    early = [["A1", "张三", "13812345678", "深圳", "南山区"]]  # within the sample: kept
    filler = [[f"B{i}", "李四", f"1391234{i % 10000:04d}", "上海"] for i in range(12_000)]
    late = [["C1", "王五", "13712345678", "北京", "朝阳区"]]  # far past the sample: counted
    src = write_csv(tmp_path / "o.csv", [HEADER, *early, *filler, *late])

    result = process_file(src, tmp_path / "out", Options(workers=1))

    rows = _csv_rows(result.csv)
    assert rows[0][:5] == [*HEADER, "column 5"]
    assert rows[1][:5] == early[0]
    assert rows[-1][:5] == late[0]
    assert result.summary["rows_with_extra_cells"] == 0  # the sample made room for it

    src = write_csv(tmp_path / "p.csv", [HEADER, *filler, *late])  # no wide row early on
    result = process_file(src, tmp_path / "out2", Options(workers=1))
    assert result.summary["rows_with_extra_cells"] == 1
    summary = {r[0]: r[1] for r in _sheet_rows(result.xlsx, "summary") if r[0]}
    assert summary["rows with more cells than the header (extra cells left out)"] == 1
