"""Workbooks written by hand, XML byte by byte, in every shape the format allows, and a
Hypothesis strategy that draws them: what no library writes for us (another encoding,
comments and processing instructions anywhere, namespace prefixes, CDATA, references,
rows in pieces, ...). A reader is held to openpyxl on them."""

from __future__ import annotations

import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from openpyxl.utils import get_column_letter

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES = "application/vnd.openxmlformats-officedocument.spreadsheetml"

#: Cell kinds: a number, a date (a number under a date style), a boolean, a shared
#: string, a shared rich string, an inline string, an inline rich string, a formula's
#: text result, a formula's number result, an empty cell.
KINDS = ("n", "date", "b", "s", "s-rich", "inline", "inline-rich", "str", "f", "empty")


@dataclass
class Shape:
    """How the sheet's XML is written: every choice a program could make."""

    encoding: str = "utf-8"  # utf-8, utf-8-sig, utf-16 (BOM), utf-16-be (BOM)
    declaration: bool = True
    prefix: str = ""  # "" or "x:": SpreadsheetML bound to a prefix
    quote: str = '"'
    indent: bool = False  # whitespace between elements
    comments: bool = False  # comments between elements (and one naming <sheetData/>)
    instructions: bool = False  # processing instructions between elements
    cdata: bool = False  # texts in CDATA sections
    references: bool = False  # characters as &#x...; references
    row_numbers: bool = True  # r= on rows
    cell_refs: bool = True  # r= on cells (always where a cell follows a gap)
    r_last: bool = False  # r= after the other attributes
    preserve: bool = False  # xml:space="preserve" on texts
    split_rows: bool = False  # each cell of a row in an element of its own, same r=
    dimension: bool = True
    declared_rows: int | None = None  # the <dimension>'s last row, when not the real one
    seed: int = 0  # where comments and instructions go


@dataclass
class Book:
    """The sheet's cells by row (None: a row the sheet skips), and the shared strings."""

    rows: list[list[tuple[str, Any] | None] | None]
    shape: Shape = field(default_factory=Shape)


def write(path: Path, book: Book) -> Path:
    """The workbook as a .xlsx file."""
    shared: list[str] = []
    sheet = _sheet(book, shared)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _content_types())
        archive.writestr("_rels/.rels", _package_rels())
        archive.writestr("xl/workbook.xml", _workbook())
        archive.writestr("xl/_rels/workbook.xml.rels", _workbook_rels())
        archive.writestr("xl/styles.xml", _styles())
        archive.writestr("xl/sharedStrings.xml", _shared_strings(shared))
        archive.writestr("xl/worksheets/sheet1.xml", _encode(sheet, book.shape))
    return path


def _encode(xml: str, shape: Shape) -> bytes:
    names = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-16-be": "UTF-16"}
    if shape.declaration or shape.encoding.startswith("utf-16"):
        q = shape.quote
        xml = f"<?xml version={q}1.0{q} encoding={q}{names[shape.encoding]}{q}?>\n" + xml
    if shape.encoding == "utf-16-be":
        return b"\xfe\xff" + xml.encode("utf-16-be")
    return xml.encode(shape.encoding)


def column_letters(index: int) -> str:
    """A column's letters from 0 (A): openpyxl's, the reference, not the code under test."""
    return get_column_letter(index + 1)


class _Writer:
    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.random = random.Random(shape.seed)
        self.parts: list[str] = []

    def tag(self, name: str) -> str:
        return f"{self.shape.prefix}{name}"

    def attrs(self, pairs: list[tuple[str, str]], ref: tuple[str, str] | None = None) -> str:
        q = self.shape.quote
        ordered = [*pairs, ref] if self.shape.r_last else [ref, *pairs]
        return "".join(f" {k}={q}{v}{q}" for k, v in (p for p in ordered if p is not None))

    def between(self) -> str:
        """What may stand between two elements."""
        out = "\n  " if self.shape.indent else ""
        if self.shape.comments and self.random.random() < 0.3:
            out += self.random.choice(["<!-- </row> -->", "<!-- <row r='9'> -->", "<!---->"])
        if self.shape.instructions and self.random.random() < 0.3:
            out += self.random.choice(["<?mso-application progid='Excel'?>", "<?x </row>?>"])
        return out

    def text(self, value: str) -> str:
        space = ' xml:space="preserve"' if self.shape.preserve else ""
        t = self.tag("t")
        if self.shape.cdata and "]]>" not in value:
            return f"<{t}{space}><![CDATA[{value}]]></{t}>"
        return f"<{t}{space}>{self.escape(value)}</{t}>"

    def escape(self, value: str) -> str:
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if self.shape.references:
            value = "".join(f"&#x{ord(c):X};" if ord(c) > 127 else c for c in value)
        return value


def _sheet(book: Book, shared: list[str]) -> str:
    shape = book.shape
    w = _Writer(shape)
    p = shape.prefix
    xmlns = f' xmlns:{p[:-1]}="{MAIN}"' if p else f' xmlns="{MAIN}"'
    out = [f'<{p}worksheet{xmlns} xmlns:r="{RELATIONSHIPS}">']
    out.append(w.between())
    if shape.comments:
        out.append("<!-- <sheetData/> -->")
    if shape.dimension:
        last = max((i for i, r in enumerate(book.rows) if r is not None), default=0) + 1
        last = shape.declared_rows or last
        out.append(f"<{p}dimension ref={shape.quote}A1:Z{last}{shape.quote}/>")
        out.append(w.between())
    out.append(f"<{p}sheetData>")
    for index, cells in enumerate(book.rows):
        number = index + 1
        if cells is None:
            if not shape.row_numbers:
                out.append(f"<{p}row/>")  # a row without its number is the next one
            continue
        indexed = list(enumerate(cells))
        pieces = [indexed] if not shape.split_rows else [[pair] for pair in indexed if pair[1]]
        for piece in pieces:
            out.append(w.between())
            row_ref = ("r", str(number)) if shape.row_numbers or shape.split_rows else None
            inner = "".join(_cell(w, number, column, cell, shared) for column, cell in piece)
            attrs = w.attrs([("spans", "1:9")], row_ref)
            if inner or not shape.split_rows:
                out.append(f"<{p}row{attrs}>{inner}</{p}row>" if inner else f"<{p}row{attrs}/>")
    out.append(w.between())
    out.append(f"</{p}sheetData>")
    out.append(w.between())
    out.append(f"</{p}worksheet>")
    return "".join(out)


def _cell(
    w: _Writer, row: int, column: int, cell: tuple[str, Any] | None, shared: list[str]
) -> str:
    if cell is None:
        return ""
    kind, value = cell
    p = w.shape.prefix
    ref: tuple[str, str] | None = ("r", f"{column_letters(column)}{row}")
    if not w.shape.cell_refs and not w.shape.split_rows:
        ref = None  # cells fill columns from A
    between = w.between()
    c = w.tag("c")
    v = w.tag("v")
    if kind == "empty":
        return f"{between}<{c}{w.attrs([('s', '0')], ref)}/>"
    if kind in ("n", "date", "b"):
        pairs = [("s", "1")] if kind == "date" else [("t", "b")] if kind == "b" else []
        return f"{between}<{c}{w.attrs(pairs, ref)}><{v}>{value}</{v}></{c}>"
    if kind in ("s", "s-rich"):
        shared.append(_rich(value) if kind == "s-rich" else f"<t>{_escape(value)}</t>")
        index = len(shared) - 1
        return f"{between}<{c}{w.attrs([('t', 's')], ref)}><{v}>{index}</{v}></{c}>"
    if kind == "inline":
        body = w.text(value)
        return f"{between}<{c}{w.attrs([('t', 'inlineStr')], ref)}><{p}is>{body}</{p}is></{c}>"
    if kind == "inline-rich":
        half = len(value) // 2
        runs = "".join(
            f"<{p}r><{p}rPr><{p}b/></{p}rPr>{w.text(part)}</{p}r>"
            for part in (value[:half], value[half:])
        )
        return f"{between}<{c}{w.attrs([('t', 'inlineStr')], ref)}><{p}is>{runs}</{p}is></{c}>"
    if kind == "str":
        f = w.tag("f")
        cached = w.escape(value)
        return (
            f'{between}<{c}{w.attrs([("t", "str")], ref)}><{f}>"x"</{f}><{v}>{cached}</{v}></{c}>'
        )
    if kind == "f":
        f = w.tag("f")
        return f"{between}<{c}{w.attrs([], ref)}><{f}>1+1</{f}><{v}>{value}</{v}></{c}>"
    raise ValueError(kind)


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rich(value: str) -> str:
    half = len(value) // 2
    return "".join(
        f'<r><t xml:space="preserve">{_escape(part)}</t></r>'
        for part in (value[:half], value[half:])
    )


def _shared_strings(items: list[str]) -> str:
    body = "".join(f"<si>{item}</si>" for item in items)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="{len(items)}"'
        f' uniqueCount="{len(items)}">{body}</sst>'
    )


def _content_types() -> str:
    overrides = {
        "/xl/workbook.xml": f"{_TYPES}.sheet.main+xml",
        "/xl/worksheets/sheet1.xml": f"{_TYPES}.worksheet+xml",
        "/xl/styles.xml": f"{_TYPES}.styles+xml",
        "/xl/sharedStrings.xml": f"{_TYPES}.sharedStrings+xml",
    }
    body = "".join(f'<Override PartName="{k}" ContentType="{v}"/>' for k, v in overrides.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
        '/package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
        f'"application/xml"/>{body}</Types>'
    )


def _package_rels() -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
        f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )


def _workbook() -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">'
        '<sheets><sheet name="订单" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )


def _workbook_rels() -> str:
    targets = {
        "rId1": ("worksheet", "worksheets/sheet1.xml"),
        "rId2": ("styles", "styles.xml"),
        "rId3": ("sharedStrings", "sharedStrings.xml"),
    }
    body = "".join(
        f'<Relationship Id="{rid}" Type="{RELATIONSHIPS}/{kind}" Target="{target}"/>'
        for rid, (kind, target) in targets.items()
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
        f"{body}</Relationships>"
    )


def _styles() -> str:
    # Style 0: General; style 1: the built-in date format 14 (m/d/yyyy).
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{MAIN}">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border/></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
        "</cellStyles></styleSheet>"
    )


# -- the strategy -------------------------------------------------------------------------

_TEXT = st.one_of(
    st.text(
        alphabet=st.sampled_from([*"0123456789 abcXYZ-+()&<>\"'_x张三省市号码\n", "😀"]),
        min_size=1,
        max_size=12,
    ),
    # Excel's escapes of characters XML cannot hold (a carriage return in a cell).
    st.sampled_from(["a_x000D_b", "_x0041_", "_x005F_x0041_"]),
)


def _value(kind: str) -> st.SearchStrategy[Any]:
    if kind in ("n", "f"):
        return st.one_of(
            st.integers(min_value=-(10**12), max_value=10**15).map(str),
            st.sampled_from(["12.5", "1.3812345678E10", "0.1", "-3", "1E-3"]),
        )
    if kind == "date":
        return st.integers(min_value=1, max_value=60000).map(str)
    if kind == "b":
        return st.sampled_from(["0", "1"])
    if kind == "empty":
        return st.none()
    return _TEXT


_CELL = st.sampled_from(KINDS).flatmap(lambda kind: _value(kind).map(lambda v: (kind, v)))


@st.composite
def books(draw: Any) -> Book:
    """A workbook: a header naming a phone column, then rows of any kind of cell."""
    width = draw(st.integers(min_value=1, max_value=5))
    header: list[tuple[str, Any] | None] = [("inline", "phone")] + [
        ("inline", f"col{i}") for i in range(1, width)
    ]
    shape = draw(
        st.builds(
            Shape,
            encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be"]),
            declaration=st.booleans(),
            prefix=st.sampled_from(["", "x:"]),
            quote=st.sampled_from(['"', "'"]),
            indent=st.booleans(),
            comments=st.booleans(),
            instructions=st.booleans(),
            cdata=st.booleans(),
            references=st.booleans(),
            row_numbers=st.booleans(),
            cell_refs=st.booleans(),
            r_last=st.booleans(),
            preserve=st.booleans(),
            split_rows=st.booleans(),
            dimension=st.booleans(),
            seed=st.integers(0, 1000),
        )
    )
    body = draw(
        st.lists(
            st.one_of(
                st.none(),
                st.lists(st.one_of(st.none(), _CELL), min_size=1, max_size=width),
            ),
            min_size=1,
            max_size=30,
        )
    )
    if not shape.row_numbers:
        # Rows without numbers are numbered by their place: no gap can be written, and
        # cells without references fill columns from A.
        body = [row if row is not None else [] for row in body]
    if not shape.cell_refs:
        body = [
            [c if c is not None else ("empty", None) for c in row] if row else row for row in body
        ]
    leading = draw(st.integers(min_value=0, max_value=2))
    rows: list[list[tuple[str, Any] | None] | None] = [None] * leading + [header, *body]
    return Book(rows, shape)
