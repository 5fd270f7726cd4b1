"""Opening what members upload: encodings, layouts, and every way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from phonetool.pipeline import errors
from phonetool.pipeline.reading.read import open_table

from .files import (
    HEADER,
    ROWS,
    write_csv,
    write_xlsx_openpyxl,
    write_xlsx_xlsxwriter,
    write_zip_bomb,
)


def _phones(path: Path, **kwargs: str) -> list[str]:
    table = open_table(path, **kwargs)
    return [row[table.phone_index] for row in table.rows]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_each_encoding_reads_the_same(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "orders.csv", [HEADER, *ROWS], encoding)
    table = open_table(path)

    assert table.headers == HEADER
    assert table.headers[table.phone_index] == "收件人电话"
    assert [row[1] for row in table.rows] == [r[1] for r in ROWS]  # Chinese names intact
    assert table.encoding in ("utf-8", "utf-8-sig", "gb18030")


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = write_csv(tmp_path / "orders.csv", [HEADER, *ROWS], delimiter=delimiter)

    assert _phones(path) == [r[2] for r in ROWS]


def test_title_rows_above_the_header_are_skipped(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", [["订单导出 2026-11-01"], [], HEADER, *ROWS])
    table = open_table(path)

    assert table.header_row == 3
    assert len(list(table.rows)) == len(ROWS)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("手机号", "手机号"), ("联系电话", "联系电话"), ("Mobile", "Mobile"), ("TEL", "TEL")],
)
def test_phone_column_is_detected_from_common_headers(
    tmp_path: Path, header: str, expected: str
) -> None:
    path = write_csv(tmp_path / "o.csv", [["name", header], ["a", "13812345678"]])
    table = open_table(path)

    assert table.headers[table.phone_index] == expected


def test_phone_column_named_by_the_member_wins(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", [["手机", "备用号码"], ["13812345678", "13912345678"]])

    assert _phones(path, phone_column="备用号码") == ["13912345678"]


def test_xlsx_from_xlsxwriter_with_float_phone_cells(tmp_path: Path) -> None:
    rows = [HEADER, ["A1", "张三", 13812345678.0, "江苏"], ["A2", "李四", 13912345678, "江苏"]]
    path = write_xlsx_xlsxwriter(tmp_path / "orders.xlsx", rows)

    assert _phones(path) == ["13812345678", "13912345678"]


def test_xlsx_from_openpyxl_named_sheet(tmp_path: Path) -> None:
    path = write_xlsx_openpyxl(tmp_path / "orders.xlsx", [HEADER, *ROWS], title="订单")

    # openpyxl stores "=HYPERLINK(...)" as a formula with no cached value, and a formula
    # is read as the value a spreadsheet last computed: here, none.
    assert _phones(path, sheet="订单") == [r[2] for r in ROWS[:5]] + [""]
    with pytest.raises(errors.UnknownSheetError, match="订单"):
        open_table(path, sheet="missing")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(errors.EmptyFileError, match="empty"):
        open_table(tmp_path / "e.csv")


def test_header_only(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "h.csv", [HEADER])
    with pytest.raises(errors.NoDataRowsError, match="no data rows"):
        open_table(path)


def test_no_phone_column_lists_what_it_saw(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "n.csv", [["订单号", "金额"], ["A1", "12.5"]])
    with pytest.raises(errors.PhoneColumnNotFoundError, match="'订单号', '金额'"):
        open_table(path)


def test_a_csv_mixing_utf8_and_gbk_is_refused_naming_both_and_the_line(tmp_path: Path) -> None:
    # A UTF-8 export with rows pasted from a GBK one (Excel's "CSV" on a Chinese Windows).
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "手机号,姓名\n13812345678,张三\n".encode()
        + "13912345678,李四\n13712345678,王五\n".encode("gbk")
    )

    with pytest.raises(errors.EncodingError) as refused:
        open_table(path)

    assert str(refused.value) == (
        "The file mixes text encodings: line 1 is in UTF-8, line 3 in GBK. Open it in a"
        " spreadsheet or text editor and save all of it again as CSV UTF-8."
    )


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_a_gbk_line_that_is_valid_utf8_by_chance_is_not_called_mixed(
    tmp_path: Path, encoding: str
) -> None:
    # "一" in GBK is D2 BB, which is also UTF-8 (for a Cyrillic letter, U+04BB): only lines that
    # decode as UTF-8 with Chinese in them count as UTF-8.
    rows = [["手机号", "备注"], ["13812345678", "张三"], ["13912345678", "一"]]
    path = write_csv(tmp_path / "gbk.csv", rows, encoding)

    assert _phones(path) == ["13812345678", "13912345678"]


def test_binary_junk_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(bytes(range(256)) * 100)
    with pytest.raises(errors.BinaryFileError, match="binary"):
        open_table(path)


def test_control_character_junk_without_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(bytes(range(1, 32)) * 500)
    with pytest.raises(errors.BinaryFileError):
        open_table(path)


def test_truncated_xlsx(tmp_path: Path) -> None:
    full = write_xlsx_openpyxl(tmp_path / "full.xlsx", [HEADER, *ROWS] * 50)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(errors.CorruptFileError, match="damaged or incomplete"):
        open_table(cut)


def test_csv_renamed_xlsx(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.xlsx", [HEADER, *ROWS])
    with pytest.raises(errors.CorruptFileError, match="not an XLSX"):
        open_table(path)


def test_zip_bomb_renamed_xlsx_is_refused_before_unpacking(tmp_path: Path) -> None:
    path = write_zip_bomb(tmp_path / "bomb.xlsx")

    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(errors.FileTooLargeError, match="unpacks to 60 MB"):
        open_table(path)


def test_a_2_mb_single_cell_is_refused_by_the_cell_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.write("手机号,备注\n13812345678,".encode())
        f.write(b"x" * (2 * 1024 * 1024))
        f.write(b"\n")
    with pytest.raises(errors.CellTooLargeError, match="Line 2 has a cell longer than 131,072"):
        list(open_table(path).rows)


def test_old_xls_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    with pytest.raises(errors.UnsupportedFileError, match=r"\.xlsx or \.csv"):
        open_table(path)


def test_xlsx_is_known_by_its_content_whatever_its_name(tmp_path: Path) -> None:
    path = write_xlsx_xlsxwriter(tmp_path / "upload", [HEADER, *ROWS])  # no extension

    table = open_table(path)
    assert table.kind == "xlsx"
    assert next(table.rows)[:3] == ROWS[0][:3]
    table.close()
