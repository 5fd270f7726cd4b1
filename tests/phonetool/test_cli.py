"""``phonetool process FILE``: the pipeline from a shell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from phonetool.cli import main

from .files import HEADER, ROWS, write_csv


def test_process_writes_both_files_and_prints_the_summary(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "orders.csv", [HEADER, *ROWS], "gbk")

    result = CliRunner().invoke(
        main, ["process", str(src), "--out", str(tmp_path / "out"), "--workers", "1"]
    )

    assert result.exit_code == 0, result.output
    assert "6 rows read, 6 exported" in result.output
    assert "duplicates 1" in result.output
    assert (tmp_path / "out" / "orders.xlsx").exists()
    assert (tmp_path / "out" / "orders.csv").exists()


def test_the_summary_sheet_in_chinese_on_request(tmp_path: Path) -> None:
    import openpyxl

    src = write_csv(tmp_path / "orders.csv", [HEADER, *ROWS])

    result = CliRunner().invoke(
        main, ["process", str(src), "--out", str(tmp_path), "--workers", "1", "--language", "zh"]
    )

    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(tmp_path / "orders.xlsx")["summary"]
    assert [sheet.cell(1, 1).value, sheet.cell(1, 2).value] == ["行", "数量"]
    assert "有效号码" in [row[0] for row in sheet.iter_rows(values_only=True)]


def test_process_with_provinces_as_json(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "orders.csv", [HEADER, *ROWS])

    result = CliRunner().invoke(
        main,
        ["process", str(src), "--out", str(tmp_path), "--provinces", "广东，浙江", "--json"],
    )

    summary = json.loads(result.stdout)["summary"]  # the progress bar is on stderr
    assert summary["rows_out"] == 1
    assert summary["rejected"]["outside the selected provinces"] == 3


def test_bad_file_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "orders.csv", [["订单号", "金额"], ["A1", "1"]])

    result = CliRunner().invoke(main, ["process", str(src), "--out", str(tmp_path)])

    assert result.exit_code == 1
    assert "No phone column found" in result.output
    assert "Traceback" not in result.output


def test_installed_command_runs_with_worker_processes(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "orders.csv", [HEADER, *(ROWS * 100)])
    command = Path(sys.executable).with_name("phonetool")

    done = subprocess.run(
        [str(command), "process", str(src), "--out", str(tmp_path / "o"), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "600 rows read" in done.stdout


def test_the_pipeline_processes_start_without_loading_the_web_framework() -> None:
    # Each fresh process of the pipeline (the command, the fork server of the workers)
    # would pay ~0.25 s for Flask, which none of them uses.
    code = (
        "import sys, phonetool.cli, phonetool.pipeline.preload;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_the_web_and_reading_processes_do_not_load_the_phone_data() -> None:
    # The geocoder's and carriers' tables are ~100 MB a process: only the processes that
    # parse numbers (the workers, or the reading process with --workers 1) load them.
    code = (
        "import sys, phonetool.app, phonetool.pipeline.run;"
        "print(sorted(m for m in sys.modules if m.split('.')[1:2] in (['geodata'], ['carrierdata'])"
        " and m.startswith('phonenumbers')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
