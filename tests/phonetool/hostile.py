"""Hostile uploads, made by code: each is small to send and built to cost the reader
something far larger (memory, time, a broken result) if a limit is not enforced."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"

CONTENT_TYPES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_SHEET_TYPE}"/>
<Override PartName="/xl/sharedStrings.xml" ContentType="{_STRINGS_TYPE}"/>
</Types>"""
ROOT_RELS = f"""<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
WORKBOOK = f"""<?xml version="1.0" encoding="UTF-8"?>
<workbook xmlns="{MAIN}" xmlns:r="{_REL}">
<sheets><sheet name="orders" sheetId="1" r:id="rId1"/></sheets></workbook>"""
WORKBOOK_RELS = f"""<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>
</Relationships>"""

HEADER_ROW = '<row r="1"><c r="A1" t="inlineStr"><is><t>手机号</t></is></c></row>'
PHONE_ROW = '<row r="2"><c r="A2" t="inlineStr"><is><t>13812345678</t></is></c></row>'


def sheet(rows: str, *, before: str = "", prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<worksheet xmlns="{MAIN}">'
        f"{before}<sheetData>{rows}</sheetData></worksheet>"
    ).encode()


def write_xlsx(
    path: Path,
    sheet_xml: bytes | Iterable[bytes],
    *,
    shared: bytes | Iterable[bytes] = f'<sst xmlns="{MAIN}" count="0" uniqueCount="0"/>'.encode(),
    stored: dict[str, bytes] | None = None,
) -> Path:
    """A workbook of one sheet, its parts written as given (streamed when iterables)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        for name, data in (
            ("xl/worksheets/sheet1.xml", sheet_xml),
            ("xl/sharedStrings.xml", shared),
        ):
            with archive.open(name, "w", force_zip64=True) as part:
                for block in [data] if isinstance(data, bytes) else data:
                    part.write(block)
        for name, data in (stored or {}).items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    return path


# -- the corpus ---------------------------------------------------------------------------


def row_gap_bomb(path: Path) -> Path:
    """One row numbered a billion: filled in row by row, it is a billion rows."""
    return write_xlsx(path, sheet(HEADER_ROW + PHONE_ROW.replace('"2"', '"1000000000"')))


def dimension_bomb(path: Path) -> Path:
    """A sheet that claims every column and row Excel has, with two real rows, the last
    one at the very bottom."""
    far = PHONE_ROW.replace('r="2"', 'r="1048576"').replace('"A2"', '"A1048576"')
    return write_xlsx(path, sheet(HEADER_ROW + far, before='<dimension ref="A1:XFD1048576"/>'))


def column_bomb(path: Path) -> Path:
    """A cell in a column past XFD: padded out, one row is millions of cells."""
    far = PHONE_ROW.replace('"A2"', '"ZZZZZZ2"')
    return write_xlsx(path, sheet(HEADER_ROW + far))


def shared_strings_bomb(path: Path, megabytes: int = 300) -> Path:
    """Hundreds of MB of tiny shared strings that pack to a few, beside a stored part of
    random bytes that dilutes the whole archive's packing ratio (the attack the ratio of
    the whole archive let through)."""
    item = b"<si><t>x</t></si>" * 4096
    blocks = (item for _ in range(megabytes * 1024 * 1024 // len(item)))
    return write_xlsx(
        path,
        sheet(HEADER_ROW + PHONE_ROW),
        shared=[f'<sst xmlns="{MAIN}">'.encode(), *blocks, b"</sst>"],
        stored={"xl/media/padding.bin": os.urandom(5 * 1024 * 1024)},
    )


_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i else "&lol;" * 10}">' for i in range(9))
    + "]>"
)
_XXE = '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def billion_laughs_in_sheet(path: Path) -> Path:
    rows = HEADER_ROW + PHONE_ROW.replace("13812345678", "&lol8;")
    return write_xlsx(path, sheet(rows, prolog=_LAUGHS))


def billion_laughs_in_shared_strings(path: Path) -> Path:
    shared = f'<?xml version="1.0"?>{_LAUGHS}<sst xmlns="{MAIN}"><si><t>&lol8;</t></si></sst>'
    return write_xlsx(path, sheet(HEADER_ROW + PHONE_ROW), shared=shared.encode())


def xxe_in_sheet(path: Path) -> Path:
    rows = HEADER_ROW + PHONE_ROW.replace("13812345678", "&xxe;")
    return write_xlsx(path, sheet(rows, prolog=_XXE))


def xxe_in_shared_strings(path: Path) -> Path:
    shared = f'<?xml version="1.0"?>{_XXE}<sst xmlns="{MAIN}"><si><t>&xxe;</t></si></sst>'
    return write_xlsx(path, sheet(HEADER_ROW + PHONE_ROW), shared=shared.encode())


def long_line_of_short_fields(path: Path, megabytes: int = 200) -> Path:
    """One CSV line of ``megabytes`` MB of one-character fields: ~70 million of them."""
    block = b"1," * (512 * 1024)
    with path.open("wb") as f:
        f.write("手机号,备注\n".encode())
        for _ in range(megabytes):
            f.write(block)
        f.write(b"\n13812345678,x\n")
    return path


def million_columns(path: Path) -> Path:
    """A header of a million columns: a result no spreadsheet can open."""
    with path.open("wb") as f:
        f.write("手机号".encode() + b",c" * 1_000_000 + b"\n13812345678\n")
    return path


def formula_cells(path: Path) -> Path:
    """Formulas where the values should be: their cached results are read, and text that
    would be a formula again in Excel is neutralised in the result."""
    rows = (
        HEADER_ROW.replace("</row>", '<c r="B1" t="inlineStr"><is><t>备注</t></is></c></row>')
        + '<row r="2"><c r="A2"><f>13800000000+5678</f><v>13800005678</v></c>'
        '<c r="B2" t="str"><f>"=1+1"</f><v>=1+1</v></c></row>'
    )
    return write_xlsx(path, sheet(rows))
