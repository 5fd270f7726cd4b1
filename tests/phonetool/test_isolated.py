"""Hostile uploads through the job's own process, as the service runs them: each ends
with its clear outcome, and the worst any of them does is fail its own job."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from phonetool.pipeline import Options, isolated
from phonetool.pipeline import errors as e
from phonetool.pipeline.isolated import run_isolated
from phonetool.pipeline.numbers.phone_info import FIELDS
from phonetool.pipeline.reading import csv_file, read, xlsx_file
from phonetool.pipeline.run import ProgressCallback, Result
from tests.conftest import alive, descendants

from . import hostile


def run(
    path: Path,
    tmp_path: Path,
    *,
    memory_mb: int = 2048,
    workers: int = 2,
    niceness: int = 0,
    progress: ProgressCallback = lambda done, total: None,
) -> Result:
    """The pipeline as a job runs it, at the test's own CPU priority: at the service's
    lower one, beside the suite's other processes on two cores, a test's job got a tenth
    of a core (test_a_job_runs_below_the_servers_cpu_priority checks that one)."""
    return run_isolated(
        path,
        tmp_path / "out",
        Options(workers=workers),
        stem="result",
        memory_mb=memory_mb,
        progress=progress,
        checkpoint=lambda: None,
        niceness=niceness,
    )


def test_a_job_runs_below_the_servers_cpu_priority(tmp_path: Path) -> None:
    """The job's process, and the workers it forks, run ``niceness`` steps below the
    server's priority: a large list does not slow the pages down."""
    path = tmp_path / "upload.csv"
    path.write_text("phone\n" + "".join(f"1380013{i:04d}\n" for i in range(5000)))
    seen: dict[int, int] = {}

    def note_priorities(done: int, total: int | None) -> None:
        for child in multiprocessing.active_children():
            for pid in {child.pid, *descendants(child.pid)} - {None}:
                with contextlib.suppress(OSError):
                    seen[pid] = os.getpriority(os.PRIO_PROCESS, pid)

    own = os.getpriority(os.PRIO_PROCESS, 0)
    result = run(path, tmp_path, niceness=7, progress=note_priorities)

    assert result.summary["valid"] == 5000
    assert seen
    assert set(seen.values()) == {min(own + 7, 19)}


REFUSED: list[tuple[Callable[[Path], Path], str, type[e.InputError], str]] = [
    (hostile.row_gap_bomb, "xlsx", e.LimitExceededError, "row numbered 1,000,000,000"),
    (hostile.column_bomb, "xlsx", e.LimitExceededError, "column ZZZZZZ"),
    (hostile.shared_strings_bomb, "xlsx", e.FileTooLargeError, "sharedStrings.xml' .* 300 MB"),
    (hostile.billion_laughs_in_sheet, "xlsx", e.CorruptFileError, "sheet1.xml' .* DTD"),
    (hostile.billion_laughs_in_shared_strings, "xlsx", e.CorruptFileError, "sharedStrings.*DTD"),
    (hostile.xxe_in_sheet, "xlsx", e.CorruptFileError, "sheet1.xml' .* DTD"),
    (hostile.xxe_in_shared_strings, "xlsx", e.CorruptFileError, "sharedStrings.xml' .* DTD"),
    (hostile.long_line_of_short_fields, "csv", e.LimitExceededError, "longer than 4,194,304"),
    (hostile.million_columns, "csv", e.LimitExceededError, "1,000,001 columns"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make", "suffix", "error", "message"), REFUSED, ids=[r[0].__name__ for r in REFUSED]
)
def test_a_hostile_file_fails_its_job_naming_the_limit(
    tmp_path: Path,
    make: Callable[[Path], Path],
    suffix: str,
    error: type[e.InputError],
    message: str,
) -> None:
    path = make(tmp_path / f"upload.{suffix}")

    with pytest.raises(error, match=message):
        run(path, tmp_path)
    assert not list((tmp_path / "out").glob("result.*"))


@pytest.mark.slow
def test_a_sheet_claiming_every_cell_costs_only_its_real_rows(tmp_path: Path) -> None:
    path = hostile.dimension_bomb(tmp_path / "upload.xlsx")

    result = run(path, tmp_path)

    assert result.summary["rows_in"] == 1
    assert result.summary["valid"] == 1
    book = openpyxl.load_workbook(result.xlsx, read_only=True)
    data = book["data"]
    # Only the columns that hold something, not the 16,384 the sheet claims.
    assert [len(r) for r in data.iter_rows(values_only=True)] == [1 + len(FIELDS) + 1] * 2
    book.close()


@pytest.mark.slow
def test_formula_cells_give_their_values_and_are_neutralised(tmp_path: Path) -> None:
    path = hostile.formula_cells(tmp_path / "upload.xlsx")

    result = run(path, tmp_path)

    lines = result.csv.read_text("utf-8-sig").splitlines()
    assert lines[1].startswith("13800005678,'=1+1,+8613800005678,")
    assert result.summary["valid"] == 1


def _with_shared_strings(path: Path, *, thousands: int) -> Path:
    """A one-row workbook whose shared-strings table holds ``thousands`` thousand numbers,
    written a thousand at a time: the table, not the sheet, takes the memory."""
    strings = (
        b"".join(b"<si><t>%d</t></si>" % (i * 1000 + j) for j in range(1000))
        for i in range(thousands)
    )
    return hostile.write_xlsx(
        path,
        hostile.sheet(hostile.HEADER_ROW + hostile.PHONE_ROW),
        shared=[f'<sst xmlns="{hostile.MAIN}">'.encode(), *strings, b"</sst>"],
    )


@pytest.mark.slow
def test_a_file_that_needs_more_memory_than_a_job_may_use_fails_with_that_limit(
    tmp_path: Path,
) -> None:
    # Twice what fits under 200 MB from a pytest-xdist worker (it ran out past ~330,000
    # strings; a plain process past ~210,000).
    path = _with_shared_strings(tmp_path / "upload.xlsx", thousands=600)

    with pytest.raises(e.MemoryLimitError, match=r"more memory than a job may use \(200 MB"):
        run(path, tmp_path, memory_mb=200)
    # The same file within the default ceiling is an ordinary list.
    assert run(path, tmp_path).summary["valid"] == 1


@pytest.mark.slow
def test_files_around_the_ceiling_each_end_with_a_result_or_the_limit(tmp_path: Path) -> None:
    """Near the ceiling, the worker pool's own threads could not start ("can't start new
    thread"), and the job's process waited for ever for its first chunk: from a plain
    process, 50,000 to 120,000 shared strings under 200 MB did so on every try. At
    150,000 to 170,000 the report of the MemoryError ran out of memory itself (the error's
    frames still held the half-read table) and the job "ended (exit code 1)". Those
    were with openpyxl's reader of the table; ``shared_strings`` needs less memory a
    string, and the ceiling now lies past 200,000-210,000 from a plain process and
    300,000-350,000 from a pytest-xdist worker (it moves with the process's memory
    layout). The sizes step across both: each file fits or fails with the limit."""
    outcomes = []
    for thousands in (150, 260, 320, 400):
        path = _with_shared_strings(tmp_path / f"upload-{thousands}.xlsx", thousands=thousands)
        try:
            outcomes.append(run(path, tmp_path / str(thousands), memory_mb=200).summary["valid"])
        except e.MemoryLimitError as exc:
            outcomes.append(str(exc))

    limit = "more memory than a job may use (200 MB"
    assert all(outcome == 1 or limit in str(outcome) for outcome in outcomes)
    # The steps span the ceiling: the smallest fits, the largest does not.
    assert outcomes[0] == 1
    assert limit in str(outcomes[-1])


def test_a_job_process_that_could_not_even_report_its_memory_error_fails_with_the_limit() -> None:
    """The last words of a process at its ceiling can fail too (pickling them needs
    memory); its exit code then says it, and the job still names the limit, not "ended
    (exit code 3)"."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=os._exit, args=(isolated.OUT_OF_MEMORY_EXIT,))
    process.start()
    send.close()

    with pytest.raises(e.MemoryLimitError, match=r"more memory than a job may use \(200 MB"):
        isolated._follow(process, receive, lambda done, total: None, lambda: None, 200)


def test_shared_strings_past_their_limit_are_refused_before_they_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strings = b"".join(b"<si><t>%07d</t></si>" % i for i in range(100_000))
    path = hostile.write_xlsx(
        tmp_path / "upload.xlsx",
        hostile.sheet(hostile.HEADER_ROW + hostile.PHONE_ROW),
        shared=f'<sst xmlns="{hostile.MAIN}">'.encode() + strings + b"</sst>",
    )
    monkeypatch.setattr(xlsx_file, "MAX_SHARED_STRINGS", 1024 * 1024)

    with pytest.raises(e.LimitExceededError, match=r"sharedStrings.xml' .* 2 MB, more than"):
        read.open_table(path)


def test_a_csv_row_is_refused_once_it_passes_the_limit_not_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A quote left open: every later line belongs to one row.
    path = tmp_path / "upload.csv"
    path.write_text('手机号,备注\n13812345678,"open\n' + "13812345678,x\n" * 200_000)
    monkeypatch.setattr(csv_file, "MAX_CSV_ROW_CHARS", 100_000)

    with pytest.raises(e.LimitExceededError, match="longer than 100,000 characters"):
        list(read.open_table(path).rows)


_RUNNER = """
import sys, time
from pathlib import Path
from phonetool.pipeline import Options
from phonetool.pipeline import isolated
from phonetool.pipeline.isolated import run_isolated

def main():
    path, out = Path(sys.argv[1]), Path(sys.argv[2])
    def progress(done, total):
        print("progress", done, flush=True)
        time.sleep(0.2)  # slow enough to be caught mid-run
    run_isolated(path, out, Options(workers=2, chunk_size=500), stem="r", memory_mb=2048,
                 niceness=0, progress=progress, checkpoint=lambda: None)

if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
def test_the_job_process_and_its_workers_die_with_the_web_process(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("手机号\n" + "".join(f"138{i:08d}\n" for i in range(200_000)))
    script = tmp_path / "runner.py"
    script.write_text(_RUNNER)
    parent = subprocess.Popen(
        [sys.executable, str(script), str(path), str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().startswith("progress")
        pipeline = descendants(parent.pid)
        assert len(pipeline) >= 4  # fork server, job process, two workers
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(map(alive, pipeline)):
        time.sleep(0.05)
    assert not [pid for pid in pipeline if alive(pid)]
