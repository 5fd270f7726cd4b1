"""A workbook's shared strings, read to the same texts as openpyxl's reader at a fraction
of its cost. openpyxl builds a rich-text object for every string (~13 µs each): a sheet
of a million distinct texts, as Excel writes a list of phone numbers kept as text, spent
13 s on the table before its first row was read, and a table near the job's memory
ceiling held every parsed element until the end. Here each string is its plain text
(``<t>``, then the ``<t>`` of each rich-text run ``<r>``; phonetic runs ``<rPh>`` left
out, and openpyxl's removal of ``x005F_`` kept), and each element is dropped once read.
openpyxl's own reader stays the reference in the tests."""

from __future__ import annotations

from typing import IO
from xml.etree.ElementTree import iterparse

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_STRING, _TEXT, _RUN = f"{_MAIN}si", f"{_MAIN}t", f"{_MAIN}r"


def read_shared_strings(xml: IO[bytes]) -> list[str]:
    """Every ``<si>`` of the table as text, in order (a cell refers to one by index)."""
    strings: list[str] = []
    append = strings.append
    events = iterparse(xml, events=("start", "end"))
    _, root = next(events)  # the table's element, which each string read is taken from
    for event, element in events:
        if event == "end" and element.tag == _STRING:
            text = element.findtext(_TEXT) or ""
            for run in element.iterfind(_RUN):
                text += run.findtext(_TEXT) or ""
            append(text.replace("x005F_", ""))
            root.clear()  # the root keeps no string read
    return strings
