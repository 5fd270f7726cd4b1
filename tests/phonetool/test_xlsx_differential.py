"""Generated workbooks in every shape the format allows, each read by the pipeline and by
openpyxl: the same rows and values, or a refusal in words; never fewer rows and
"succeeded"."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, note, settings

from phonetool.pipeline import Options, process_file
from phonetool.pipeline.errors import NoDataRowsError
from phonetool.pipeline.numbers.phones import cell_text
from phonetool.pipeline.writing.render import FORMULA_TRIGGERS

from . import sheet_xml
from .sheet_xml import Book, Shape


def pipeline_rows(path: Path, out: Path) -> list[list[str]]:
    """The rows under the header that the pipeline kept, as it wrote them (the CSV). Blank
    rows are set aside (the rejected sheet), and rows the sheet skips are not rows."""
    result = process_file(path, out, Options(workers=1))
    table = _csv(result.csv)
    width = table[0].index("e164")
    return [row[:width] for row in table[1:]]


def openpyxl_rows(path: Path) -> list[list[str]]:
    """The same from openpyxl (its full reader, which places every cell by reference),
    written as the pipeline writes a cell that starts like a formula."""
    book = openpyxl.load_workbook(path, data_only=True)
    try:
        rows = [
            [cell_text(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)
        ]
    finally:
        book.close()
    header = _header_index(rows)
    width = len(rows[header])
    body = [(row + [""] * width)[:width] for row in rows[header + 1 :]]
    return [
        [("'" + c) if c.startswith(FORMULA_TRIGGERS) else c for c in row]
        for row in body
        if "".join(row).strip()
    ]


def _header_index(rows: list[list[str]]) -> int:
    return next(i for i, row in enumerate(rows) if any(c.strip() for c in row))


def _csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def _same(book: Book) -> None:
    note(repr(book))
    with tempfile.TemporaryDirectory() as folder:
        path = sheet_xml.write(Path(folder) / "book.xlsx", book)
        theirs = openpyxl_rows(path)
        try:
            ours = pipeline_rows(path, Path(folder) / "out")
        except NoDataRowsError:
            ours = []  # a header and no row under it: said in words
        assert ours == theirs


@given(sheet_xml.books())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(Book([[("inline", "phone")], [("n", "13812345678")]], Shape(encoding="utf-16")))
@example(Book([[("inline", "phone")], [("s", "13812345678")]], Shape(comments=True, seed=1)))
@example(
    Book(
        [[("inline", "phone"), ("inline", "name")], [("s", "138"), ("s", "n")]],
        Shape(prefix="x:", split_rows=True),
    )
)
@example(Book([[("s", "phone")], [("s", "13812345678")]], Shape(quote="'")))
def test_every_shape_of_sheet_reads_as_openpyxl_reads_it(book: Book) -> None:
    _same(book)


@pytest.mark.parametrize(
    "shape",
    [
        Shape(encoding="utf-16"),
        Shape(encoding="utf-16-be"),
        Shape(comments=True, seed=3),
        Shape(instructions=True, seed=3),
        Shape(cdata=True),
        Shape(prefix="x:", split_rows=True),
        Shape(quote="'"),
    ],
    ids=lambda s: ",".join(f"{k}={v}" for k, v in vars(s).items() if v != getattr(Shape(), k)),
)
def test_a_long_sheet_in_a_shape_the_byte_search_cannot_cut(shape: Shape, tmp_path: Path) -> None:
    """Long enough for the sheet to be cut into many pieces on the fast path."""
    rows: list[list[tuple[str, object] | None] | None] = [[("inline", "phone"), ("inline", "name")]]
    rows += [[("s", f"138{n:08d}"), ("inline", f"张三{n}")] for n in range(6000)]
    path = sheet_xml.write(tmp_path / "long.xlsx", Book(rows, shape))
    ours = pipeline_rows(path, tmp_path / "out")
    assert len(ours) == 6000
    assert ours == openpyxl_rows(path)


def test_a_sheet_that_declares_far_more_rows_than_were_read_says_so(tmp_path: Path) -> None:
    """The last guard, for what no test imagined: the job succeeds with the rows it read,
    and its summary says how many the sheet declares (its <dimension>)."""
    rows: list[list[tuple[str, object] | None] | None] = [[("inline", "phone")]]
    rows += [[("n", f"138{n:08d}")] for n in range(20)]
    path = sheet_xml.write(tmp_path / "short.xlsx", Book(rows, Shape(declared_rows=5000)))
    honest = sheet_xml.write(tmp_path / "honest.xlsx", Book(rows, Shape()))

    short = process_file(path, tmp_path / "out", Options(workers=1))
    fine = process_file(honest, tmp_path / "out", Options(workers=1))

    assert short.summary["rows_in"] == 20
    assert short.summary["short_read"] == {"read": 20, "declared": 4999}
    assert fine.summary["short_read"] is None
