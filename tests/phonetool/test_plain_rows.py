"""The plain-shape scanner reads sheet XML as the element parser does, or declines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import WINDOWS_EPOCH

from phonetool.pipeline.reading import sheet_rows as module
from phonetool.pipeline.reading.cells import CellRules
from phonetool.pipeline.reading.plain_rows import plain_head, plain_rows
from phonetool.pipeline.reading.sheet_rows import Fragment, Fragments, SheetShape, SheetSource

RULES = CellRules(dates=frozenset({1}), timedeltas=frozenset({2}), epoch=WINDOWS_EPOCH)
SHARED = {0: "甲", 1: "a & <b>", 2: "  padded  ", 3: ""}
HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
    b'xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac">'
    b"<sheetData>"
)
PREFIXES = frozenset({"r", "xml", "x14ac"})
SHAPE = SheetShape(
    head=HEAD,
    tail=b"</sheetData></worksheet>",
    rules=RULES,
    width=0,
    header_row=0,
    max_cell=10_000,
    plain=PREFIXES,
)

# Text as it may come: markup characters, quotes, CJK, spaces, and what an XML parser
# rewrites or refuses (CR, control characters), which the scanner must leave to it.
TEXT = st.text(
    alphabet=st.sampled_from([*"ab 1&<>\"'张三\t\n]", "\r", "\x07", "\ufffe"]),
    max_size=8,
)
PLAIN_TEXT = st.text(alphabet=st.sampled_from(list("ab 1&<>\"'张三\t\n")), max_size=8)


def escape(text: str) -> str:
    """What XML requires in text; ">" stays, as many writers leave it ("]]>" may appear)."""
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _column(index: int) -> str:
    return get_column_letter(index + 1)


ALL_KINDS = ("inlineStr", "s", "n", None, "b", "str", "e", "d")


@st.composite
def cells(
    draw: st.DrawFn, text: st.SearchStrategy[str], kinds: tuple[str | None, ...] = ALL_KINDS
) -> str:
    """One <c> of a kind Excel, LibreOffice, openpyxl or xlsxwriter writes."""
    style = draw(st.sampled_from(["", ' s="1"', ' s="2"', ' s="7"']))
    kind = draw(st.sampled_from(kinds))
    t = "" if kind is None else f' t="{kind}"'
    if kind == "inlineStr":
        space = draw(st.sampled_from(["", ' xml:space="preserve"']))
        body = f"<is><t{space}>{escape(draw(text))}</t></is>"
    elif kind == "s":
        body = f"<v>{draw(st.integers(0, 3))}</v>"
    elif kind in ("n", None):
        value = draw(
            st.one_of(
                st.integers(-(10**12), 10**12).map(str),
                st.floats(-1e6, 1e6, allow_nan=False).map(repr),
                st.sampled_from(["1.3812345678E10", "45000.5", "0"]),
            )
        )
        body = f"<v>{value}</v>"
    elif kind == "b":
        body = f"<v>{draw(st.sampled_from(['0', '1']))}</v>"
    elif kind == "d":
        body = "<v>2026-11-24T09:30:00</v>"
    else:
        body = f"<v>{escape(draw(text))}</v>"
    if draw(st.integers(0, 9)) == 0:
        return f"<c{style}{t}/>" if draw(st.booleans()) else f"<c{style}{t}></c>"
    return f"<c{style}{t}>{body}</c>"


@st.composite
def pieces(
    draw: st.DrawFn, text: st.SearchStrategy[str], kinds: tuple[str | None, ...] = ALL_KINDS
) -> str:
    """Rows with gaps between cells and between rows, and the attributes writers add."""
    out = []
    number = draw(st.integers(1, 5))
    for _ in range(draw(st.integers(0, 6))):
        attributes = draw(
            st.sampled_from(
                ["", ' spans="1:5"', ' ht="15" customHeight="1" x14ac:dyDescent="0.25"']
            )
        )
        column = 0
        row = []
        for cell in draw(st.lists(cells(text, kinds), max_size=5)):
            column += draw(st.sampled_from([0, 0, 0, 1, 3]))
            row.append(cell.replace("<c", f'<c r="{_column(column)}{number}"', 1))
            column += 1
        if row or draw(st.booleans()):
            out.append(f'<row r="{number}"{attributes}>{"".join(row)}</row>')
        else:
            out.append(f'<row r="{number}"{attributes}/>')
        number += draw(st.sampled_from([1, 1, 2, 4]))
    return "".join(out)


def _element_parser(xml: bytes) -> list[tuple[int, list[str]]]:
    return list(module._parsed(Fragment(xml, 1, SHARED), SHAPE))


@given(piece=pieces(PLAIN_TEXT))
@settings(max_examples=400, deadline=None)
def test_plain_pieces_are_scanned_and_read_as_the_element_parser_reads_them(piece: str) -> None:
    xml = piece.encode()
    scanned = plain_rows(xml, PREFIXES, SHARED, RULES)
    assert scanned is not None  # the shapes writers use are taken by the fast path
    assert scanned == _element_parser(xml)


@given(piece=pieces(PLAIN_TEXT, kinds=("inlineStr",)))
@settings(max_examples=200, deadline=None)
def test_rows_of_inline_strings_are_read_as_the_element_parser_reads_them(piece: str) -> None:
    # Such rows in columns A, B, C, ... without references take a shorter path.
    xml = piece.encode()
    assert plain_rows(xml, PREFIXES, SHARED, RULES) == _element_parser(xml)


@given(piece=pieces(TEXT))
@settings(max_examples=400, deadline=None)
def test_whatever_the_scanner_accepts_it_reads_as_the_element_parser(piece: str) -> None:
    xml = piece.encode()
    scanned = plain_rows(xml, PREFIXES, SHARED, RULES)
    if scanned is not None:
        assert scanned == _element_parser(xml)
    if any(bad in piece for bad in ("\r", "\x07", "\ufffe", "]]>")):
        assert scanned is None  # rewritten or refused by an XML parser: left to it


@pytest.mark.parametrize(
    "piece",
    [
        '<row r="2"><c r="A2" t="inlineStr"><is><r><t>rich</t></r></is></c></row>',
        '<row r="2"><c r="A2"><f>1+1</f><v>2</v></c></row>',
        '<row r="2"> <c r="A2"><v>2</v></c></row>',
        '<row r="2"><c r="A2" t="inlineStr"><is><t>a&#10;b</t></is></c></row>',
        '<row r="2"><c r="a2"><v>2</v></c></row>',
        "<row r='2'><c r='A2'><v>2</v></c></row>",
        '<row r="2"><c t="s" r="A2"><v>0</v></c></row>',
        '<row><c r="A2"><v>2</v></c></row>',
        '<row r="2" xmlns="urn:other"><c r="A2"><v>2</v></c></row>',
        '<x:row r="2"><x:c r="A2"><x:v>2</x:v></x:c></x:row>',
        '<row r="2"><c r="A2"><v>2</v></c></row><row r="3"><c r="A3"><v>3</v>',
        '<row r="2" y:height="3"><c r="A2"><v>2</v></c></row>',
        '<row r="2" ht="3" ht="4"><c r="A2"><v>2</v></c></row>',
        '<row r="2"><c r="A2"><v>2</v></c></row>\n<row r="3"><c r="A3"><v>3</v></c></row>',
        '<row r="2"><c r="A2"><v>2</v></c></row><!-- note -->',
        '<?pi x?><row r="2"><c r="A2"><v>2</v></c></row>',
    ],
    ids=[
        "rich text",
        "formula",
        "whitespace",
        "character reference",
        "lower-case reference",
        "single quotes",
        "attribute order",
        "row without number",
        "namespace on a row",
        "prefix",
        "cut row",
        "undeclared prefix",
        "attribute twice",
        "text between rows",
        "after the last row",
        "before the first row",
    ],
)
def test_other_shapes_are_left_to_the_element_parser(piece: str) -> None:
    assert plain_rows(piece.encode(), PREFIXES, SHARED, RULES) is None


@pytest.mark.parametrize(
    ("head", "plain"),
    [
        (HEAD, True),
        (HEAD.replace(b"UTF-8", b"utf-16"), False),
        (HEAD.replace(b'xmlns="', b'xmlns:x="'), False),
        (HEAD.replace(b"<sheetData>", b'<sheetData xmlns="urn:other">'), False),
        (HEAD.replace(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n', b""), True),
    ],
    ids=["excel", "utf-16", "prefixed namespace", "default namespace changed", "no declaration"],
)
def test_the_sheet_start_decides_whether_pieces_may_be_scanned(head: bytes, plain: bool) -> None:
    assert (plain_head(head) == {"r", "x14ac", "xml"}) is plain


def _written_by(tool: str, path: Path) -> None:
    header = ["订单号", "收件人电话", "金额", "下单时间", "备注"]
    rows = [
        ["SO1", "13812345678", 12.5, dt.datetime(2026, 11, 24, 9, 30), "a & b <c>"],
        ["SO2", 13912345678, -3, dt.datetime(2026, 1, 2), "  edge spaces  "],
        ["SO3", "+86 138 1234 5678", 0, None, '"quoted"'],
    ]
    if tool == "openpyxl":
        book = openpyxl.Workbook()
        sheet = book.active
        for row in [header, *rows]:
            sheet.append(row)
        book.save(path)
        return
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": tool == "xlsxwriter-inline"})
    ws = workbook.add_worksheet()
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for r, row in enumerate([header, *rows]):
        for c, value in enumerate(row):
            if isinstance(value, dt.datetime):
                ws.write_datetime(r, c, value, when)
            elif value is not None:
                ws.write(r, c, value)
    workbook.close()


@pytest.mark.parametrize("tool", ["openpyxl", "xlsxwriter-shared", "xlsxwriter-inline"])
def test_files_of_the_common_writers_take_the_fast_path_with_the_same_rows(
    tmp_path: Path, tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"{tool}.xlsx"
    _written_by(tool, path)
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        source = SheetSource.of(book.worksheets[0])
        assert source is not None
        fragments = Fragments(path, source, width=5, header_row=1, max_cell=1000)
        pieces = list(fragments)
        shape = fragments.shape
        assert shape is not None
        assert shape.plain is not None
        scanned = [module.fragment_rows(piece, shape) for piece in pieces]
        monkeypatch.setattr(module, "plain_rows", lambda *args: None)
        parsed = [module.fragment_rows(piece, shape) for piece in pieces]
    finally:
        book.close()
    assert scanned == parsed
    rows = [row for runs in scanned for _, run in runs for row in run]
    assert rows[0] == ["SO1", "13812345678", "12.5", "2026-11-24 09:30:00", "a & b <c>"]
    assert rows[2][4] == '"quoted"'
