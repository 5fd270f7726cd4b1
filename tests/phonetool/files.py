"""Real input files, written the way shop back offices and spreadsheets write them."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import xlsxwriter

HEADER = ["订单号", "收件人", "收件人电话", "省份"]
ROWS = [
    ["A001", "张三", "13812345678", "江苏"],
    ["A002", "李四", "+86 139-1234-5678", "江苏"],
    ["A003", "王五", "0755-26543210", "广东"],
    ["A004", "赵六", "not a phone", "上海"],
    ["A005", "钱七", "138 1234 5678", "江苏"],
    ["A006", "孙八", '=HYPERLINK("http://x")', "浙江"],
]


def write_csv(
    path: Path, rows: Sequence[Sequence[Any]], encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx_xlsxwriter(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("订单")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    book.close()
    return path


def write_xlsx_openpyxl(path: Path, rows: Sequence[Sequence[Any]], title: str = "Sheet") -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def write_zip_bomb(path: Path, megabytes: int = 60) -> Path:
    """A .xlsx whose worksheet unpacks to many megabytes of zeros from a few KB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            block = b"0" * (1024 * 1024)
            for _ in range(megabytes):
                sheet.write(block)
    return path
