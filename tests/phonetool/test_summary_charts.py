"""The summary sheet's native charts: written by xlsxwriter's chart objects, kept through
the splice of the big sheets, and opened by LibreOffice."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest

from phonetool.pipeline import Options, process_file
from tests.conftest import IN_CI

from .files import write_csv

ROWS = [
    ["订单编号", "收货人", "手机号"],
    ["1", "张三", "13812345678"],
    ["2", "李四", "13912345680"],
    ["3", "王五", "0755-26543210"],
    ["4", "赵六", "138****5678"],
    ["5", "钱七", "1380000111"],
    ["6", "孙八", "18612345678"],
]

CHARTS = ["numbers", "invalid reason", "province", "carrier", "number type"]


def _export(tmp_path: Path) -> Path:
    source = write_csv(tmp_path / "订单.csv", ROWS)
    return process_file(source, tmp_path / "out", Options(workers=1)).xlsx


def test_the_summary_sheet_holds_a_chart_for_each_count(tmp_path: Path) -> None:
    xlsx = _export(tmp_path)

    with zipfile.ZipFile(xlsx) as book:
        charts = sorted(n for n in book.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        xml = [book.read(n).decode() for n in charts]
    titles = [re.search(r"<a:t>([^<]*)</a:t>", x)[1] for x in xml]  # type: ignore[index]
    assert titles == CHARTS
    # Each plots the counts written beside it on the summary sheet.
    sheet = openpyxl.load_workbook(xlsx)["summary"]
    labels = {sheet.cell(r, 1).value: r for r in range(1, sheet.max_row + 1)}
    numbers = xml[0]
    first, last = labels["valid numbers"], labels["masked numbers (digits hidden)"]
    assert f"summary!$B${first}:$B${last}" in numbers
    assert [sheet.cell(r, 2).value for r in range(first, last + 1)] == [4, 1, 1]


@pytest.mark.slow
def test_libreoffice_opens_the_workbook_with_its_charts(tmp_path: Path) -> None:
    soffice = shutil.which("soffice")
    if soffice is None:
        if IN_CI:
            pytest.fail("soffice is not installed: scripts/test installs libreoffice-calc-nogui")
        pytest.skip("LibreOffice not installed: run the tests with scripts/test")
    xlsx = _export(tmp_path)
    profile = (tmp_path / "lo-profile").as_uri()

    for target in ("pdf", "ods"):
        done = subprocess.run(
            [
                soffice,
                f"-env:UserInstallation={profile}",
                "--headless",
                "--convert-to",
                target,
                "--outdir",
                str(tmp_path / "lo"),
                str(xlsx),
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
        assert "Error" not in done.stderr, done.stderr

    assert (tmp_path / "lo" / f"{xlsx.stem}.pdf").stat().st_size > 1000
    with zipfile.ZipFile(tmp_path / "lo" / f"{xlsx.stem}.ods") as ods:
        objects = [n for n in ods.namelist() if re.fullmatch(r"Object \d+/content\.xml", n)]
        assert len(objects) == len(CHARTS)  # every chart came through as a chart


def test_the_summary_sheet_speaks_the_members_language(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "订单.csv", ROWS)
    xlsx = process_file(source, tmp_path / "out", Options(workers=1, language="zh")).xlsx

    with zipfile.ZipFile(xlsx) as book:
        charts = sorted(n for n in book.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        xml = [book.read(n).decode() for n in charts]
    titles = [re.search(r"<a:t>([^<]*)</a:t>", x)[1] for x in xml]  # type: ignore[index]
    sheet = openpyxl.load_workbook(xlsx)["summary"]
    counts = {sheet.cell(r, 1).value: sheet.cell(r, 2).value for r in range(1, sheet.max_row + 1)}

    assert titles == ["号码", "无效原因", "省份", "运营商", "号码类型"]
    masked = "隐藏号码 (部分数字被隐藏)"
    assert (counts["有效号码"], counts["无效号码"], counts[masked]) == (4, 1, 1)
    assert counts["太短"] == 1  # the reason, in words
    assert (counts["手机"], counts["固定电话"]) == (3, 1)  # the number types
    assert counts["广东省"] == 1  # places as the summary holds them
