"""The shared strings reader against openpyxl's, the reference: the same texts from
tables in every shape a program writes (plain, rich-text runs, phonetic runs, escapes,
prefixes, whitespace) and from the workbooks other software wrote."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.reader.strings import read_string_table

from phonetool.pipeline.reading.shared_strings import read_shared_strings

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CORPUS = Path(__file__).resolve().parents[1] / "data" / "xlsx"

#: Characters XML 1.0 allows, the escapes Excel writes among them ("_x000D_",
#: "_x005F_"), and spaces and line ends a text may start or end with.
texts = st.lists(
    st.one_of(
        st.text(
            st.characters(
                codec="utf-8",
                exclude_categories=("Cs", "Cc"),
            ),
            max_size=6,
        ),
        st.sampled_from(["_x000D_", "_x005F_x000D_", "x005F_", " ", "\n", "\t", "电话"]),
    ),
    max_size=4,
).map("".join)


def _t(text: str, prefix: str) -> str:
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f"<{prefix}t{space}>{escape(text)}</{prefix}t>" if text else f"<{prefix}t/>"


@st.composite
def strings(draw: st.DrawFn, prefix: str) -> str:
    """One ``<si>``: a plain text, or runs (with or without a text before them), with
    phonetic runs and their properties after, as Excel writes Japanese readings."""
    plain = draw(st.one_of(st.none(), texts))
    runs = draw(st.lists(texts, max_size=3))
    phonetic = draw(st.lists(texts, max_size=2))
    parts = [] if plain is None else [_t(plain, prefix)]
    for run in runs:
        properties = f'<{prefix}rPr><{prefix}b/><{prefix}sz val="11"/></{prefix}rPr>'
        parts.append(
            f"<{prefix}r>{draw(st.sampled_from(['', properties]))}{_t(run, prefix)}</{prefix}r>"
        )
    for reading in phonetic:
        parts.append(f'<{prefix}rPh sb="0" eb="1">{_t(reading, prefix)}</{prefix}rPh>')
    if phonetic:
        parts.append(f'<{prefix}phoneticPr fontId="1"/>')
    return f"<{prefix}si>{''.join(parts)}</{prefix}si>"


@st.composite
def tables(draw: st.DrawFn) -> bytes:
    prefix = draw(st.sampled_from(["", "x:"]))
    bound = f'xmlns{":x" if prefix else ""}="{MAIN}"'
    items = draw(st.lists(strings(prefix), max_size=12))
    between = draw(st.sampled_from(["", "\n  ", "<!-- a comment -->"]))
    body = between.join(items)
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<{prefix}sst {bound} count="{len(items)}" uniqueCount="{len(items)}">'
        f"{body}</{prefix}sst>"
    ).encode()


@settings(max_examples=300, deadline=None)
@given(tables())
def test_every_shape_of_table_reads_to_openpyxls_texts(xml: bytes) -> None:
    assert read_shared_strings(io.BytesIO(xml)) == read_string_table(io.BytesIO(xml))


def test_the_tables_of_workbooks_other_software_wrote_read_to_openpyxls_texts() -> None:
    compared = 0
    for path in sorted(CORPUS.glob("*/*.xlsx")):
        if not zipfile.is_zipfile(path):
            continue  # encrypted or not a workbook: no table to read
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.lower().endswith("sharedstrings.xml") and "/._" not in f"/{name}":
                    xml = archive.read(name)
                    ours = read_shared_strings(io.BytesIO(xml))
                    assert ours == read_string_table(io.BytesIO(xml)), f"{path.name}: {name}"
                    compared += len(ours)
    assert compared > 100  # the corpus is there (142 strings in its tables)
