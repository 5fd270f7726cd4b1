"""The XLSX reader against openpyxl on workbooks written by other software.

Each workbook is read twice: as the pipeline reads a sheet (the fast path of pieces cut by
byte search, read again by the full parser where a piece cannot be trusted, behind the
same checks of the package), and by openpyxl's full reader, the reference. Every workbook
must come out the same, or be refused in words (an ``InputError``); a different answer, or
an error that is not in words, is a defect.

    python benchmarks/xlsx_corpus.py FOLDER [--markdown FILE] [--json FILE]

FOLDER holds .xlsx files, in subfolders named for the project they come from. The test
suite runs the same comparison over ``tests/data/xlsx`` (test_real_workbooks.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import signal
import sys
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from phonetool.pipeline.errors import InputError, NotPlainSheet
from phonetool.pipeline.numbers.phones import cell_text
from phonetool.pipeline.reading.table import MAX_CELL_CHARS
from phonetool.pipeline.reading.xlsx_file import open_sheet

#: What a comparison can end in; the first two are what a member can live with.
SAME, REFUSED, BOTH_REFUSE, OURS_ONLY, DIFFERENT, CRASHED = (
    "same",
    "refused in words",
    "both refuse",
    "read, openpyxl cannot",
    "different rows",
    "error not in words",
)
#: The same rows, but for values the sheet holds beneath a merged cell: kept here.
SAME_BUT_MERGED = "same but beneath merged cells"
DEFECTS = (DIFFERENT, CRASHED)


@dataclass
class Outcome:
    path: str
    verdict: str
    rows: int  # rows openpyxl read (trailing empty ones left out)
    detail: str = ""


def pipeline_rows(path: Path) -> list[list[str]]:
    """The first sheet's rows as the pipeline reads them, every row a data row."""
    from phonetool.pipeline.reading.sheet_rows import (  # with openpyxl
        Fragments,
        SheetSource,
        fragment_rows,
        sheet_rows,
    )

    book, handle, ws = open_sheet(path)
    try:
        source = SheetSource.of(ws)
        if source is None:
            return _trimmed([[cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)])
        try:
            fragments = Fragments(path, source, width=0, header_row=0, max_cell=MAX_CELL_CHARS)
            rows: list[list[str]] = []
            for fragment in fragments:
                assert fragments.shape is not None
                for first, run in fragment_rows(fragment, fragments.shape):
                    rows.extend([] for _ in range(len(rows), first - 1))
                    rows.extend(run)
        except NotPlainSheet:
            rows = list(sheet_rows(source))
        return _trimmed(rows)
    finally:
        book.close()
        handle.close()


def openpyxl_rows(path: Path) -> tuple[list[list[str]], set[tuple[int, int]]]:
    """The first worksheet as openpyxl's full reader places its cells; and where cells
    lie under a merged cell (row and column from 0), which openpyxl empties as Excel
    shows them, and which the pipeline reads as the sheet holds them."""
    import openpyxl
    from openpyxl.cell.cell import MergedCell

    book = openpyxl.load_workbook(path, data_only=True)
    try:
        # Its cells by reference, not iter_rows: one cell at XFD1048576 makes that a grid
        # of 17 billion.
        cells = book.worksheets[0]._cells
        rows: list[list[str]] = [[] for _ in range(max((r for r, _ in cells), default=0))]
        merged = set()
        for (row, column), cell in sorted(cells.items()):
            values = rows[row - 1]
            values.extend([""] * (column - 1 - len(values)))
            values.append(cell_text(cell.value))
            if isinstance(cell, MergedCell):
                merged.add((row - 1, column - 1))
        return _trimmed(rows), merged
    finally:
        book.close()


def _trimmed(rows: list[list[str]]) -> list[list[str]]:
    """Without empty cells at the end of a row, nor empty rows at the end of the sheet:
    where a sheet ends is not a value."""
    out = []
    for row in rows:
        row = list(row)
        while row and not row[-1]:
            row.pop()
        out.append(row)
    while out and not out[-1]:
        out.pop()
    return out


def compare(path: Path) -> Outcome:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        merged: set[tuple[int, int]] = set()
        try:
            theirs: list[list[str]] | None
            theirs, merged = openpyxl_rows(path)
            failed = ""
        except Exception as exc:  # the reference cannot read it either
            theirs, failed = None, type(exc).__name__
        try:
            ours = pipeline_rows(path)
        except InputError as exc:
            verdict = BOTH_REFUSE if theirs is None else REFUSED
            return Outcome(str(path), verdict, len(theirs or []), str(exc)[:200])
        except Exception as exc:
            return Outcome(
                str(path), CRASHED, len(theirs or []), f"{type(exc).__name__}: {exc}"[:200]
            )
    if theirs is None:
        return Outcome(str(path), OURS_ONLY, len(ours), f"openpyxl: {failed}")
    if ours != theirs:
        if _beneath_merges(ours, theirs, merged):
            return Outcome(str(path), SAME_BUT_MERGED, len(theirs), f"{len(merged)} merged")
        return Outcome(str(path), DIFFERENT, len(theirs), _first_difference(ours, theirs))
    return Outcome(str(path), SAME, len(theirs))


def _beneath_merges(
    ours: list[list[str]], theirs: list[list[str]], merged: set[tuple[int, int]]
) -> bool:
    """Every difference is a value the sheet holds under a merged cell, which openpyxl
    empties (Excel shows only the merge's first cell) and the pipeline keeps."""
    if len(ours) != len(theirs):
        return False
    for r, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        width = max(len(a), len(b))
        a, b = a + [""] * (width - len(a)), b + [""] * (width - len(b))
        for c, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y and not (y == "" and (r, c) in merged):
                return False
    return True


#: What one workbook may take: openpyxl's full reader holds the whole sheet.
MEMORY_BYTES = 4 * 1024**3
SECONDS = 120


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


class _OutOfTime(Exception):
    pass


def _compare_bounded(path: Path) -> Outcome:
    def stop(*_: object) -> None:
        raise _OutOfTime

    signal.signal(signal.SIGALRM, stop)
    signal.alarm(SECONDS)
    try:
        return compare(path)
    except (MemoryError, _OutOfTime) as exc:
        return Outcome(str(path), "not compared", 0, f"{type(exc).__name__} (too large here)")
    finally:
        signal.alarm(0)


def _first_difference(ours: list[list[str]], theirs: list[list[str]]) -> str:
    for number, (a, b) in enumerate(zip(ours, theirs, strict=False), start=1):
        if a != b:
            return f"row {number}: ours {a[:6]!r}, openpyxl {b[:6]!r}"
    return f"{len(ours)} rows, openpyxl {len(theirs)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path, help="every outcome (openpyxl prints to stdout)")
    args = parser.parse_args()
    started = time.monotonic()
    paths = sorted(args.folder.rglob("*.xlsx"))
    # A process per core, each under a memory ceiling and a clock: openpyxl's full reader
    # holds a whole sheet, and some test workbooks are huge. (Not max_tasks_per_child:
    # on Python 3.11 the pool then hangs.)
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(mp_context=context, initializer=_limits) as pool:
        outcomes = list(pool.map(_compare_bounded, paths))
    for outcome in outcomes:  # named within the corpus, not by where it lies here
        outcome.path = str(Path(outcome.path).relative_to(args.folder))
        outcome.detail = outcome.detail.replace(f"{args.folder}/", "")
    seconds = time.monotonic() - started
    if args.json:
        args.json.write_text(json.dumps([vars(o) for o in outcomes], ensure_ascii=False, indent=1))
    if args.markdown:
        args.markdown.write_text(_markdown(outcomes, seconds))
    defects = [o for o in outcomes if o.verdict in DEFECTS]
    for o in defects:
        print(f"{o.verdict}: {o.path}: {o.detail}", file=sys.stderr)
    print(dict(Counter(o.verdict for o in outcomes)), file=sys.stderr)


def _markdown(outcomes: list[Outcome], seconds: float) -> str:
    projects = sorted({Path(o.path).parts[0] for o in outcomes})
    verdicts = [
        SAME,
        SAME_BUT_MERGED,
        REFUSED,
        BOTH_REFUSE,
        OURS_ONLY,
        DIFFERENT,
        CRASHED,
        "not compared",
    ]
    lines = [
        "## The XLSX reader on workbooks written by other software",
        "",
        f"{len(outcomes)} workbooks from {len(projects)} projects' test data, each read as the"
        " pipeline reads it and by openpyxl (`benchmarks/xlsx_corpus.py`,"
        f" {seconds:.0f} s in all).",
        "",
        "| project | " + " | ".join(verdicts) + " |",
        "|---|" + "---:|" * len(verdicts),
    ]
    for project in projects:
        mine = Counter(o.verdict for o in outcomes if Path(o.path).parts[0] == project)
        lines.append(f"| {project} | " + " | ".join(str(mine[v]) for v in verdicts) + " |")
    total = Counter(o.verdict for o in outcomes)
    lines.append("| **all** | " + " | ".join(f"**{total[v]}**" for v in verdicts) + " |")
    refused = Counter(o.detail.split(".")[0] for o in outcomes if o.verdict == REFUSED)
    if refused:
        lines += ["", "Refused where openpyxl reads, by reason:", ""]
        lines += [f"- {count} × {reason}." for reason, count in refused.most_common()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
