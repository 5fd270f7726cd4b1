"""Workbooks written by other software (tests/data/xlsx, from other projects' test
suites): each reads as openpyxl reads it, or is refused in words that say what to do.
Never fewer rows and "succeeded"; never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.xlsx_corpus import (
    BOTH_REFUSE,
    DEFECTS,
    OURS_ONLY,
    SAME,
    SAME_BUT_MERGED,
    compare,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "xlsx"

#: Every workbook reads the same as with openpyxl, but these (labelled by hand).
EXPECTED = {
    # One row in several <x:row r="19"> elements, one cell each, with values beneath
    # merged cells; read as 112 rows with cells in the wrong rows before.
    "ExcelDataReader+ExcelDataReader/Test_git_issue_324.xlsx": (SAME_BUT_MERGED, ""),
    # Encrypted with a password (an OLE file around the package).
    "ExcelDataReader+ExcelDataReader/standard_AES128_SHA1_ECB_pwd_password.xlsx": (
        BOTH_REFUSE,
        "protected by a password",
    ),
    "tafia+calamine/pass_protected.xlsx": (BOTH_REFUSE, "protected by a password"),
    # Excel's Strict Open XML format, which openpyxl cannot open either.
    "roo-rb+roo/strict.xlsx": (BOTH_REFUSE, "Strict Open XML"),
    "tafia+calamine/strict_iso_paths.xlsx": (BOTH_REFUSE, "Strict Open XML"),
    # No worksheet at all.
    "qax-os+excelize/BadWorkbook.xlsx": (BOTH_REFUSE, "no worksheet"),
    # An old .xls (a compound file) named .xlsx.
    "roo-rb+roo/type_excel.xlsx": (BOTH_REFUSE, "Old Excel .xls"),
    # Parts missing or unlike Excel's, which stop openpyxl too: said with what to do.
    "roo-rb+roo/type_openoffice.xlsx": (BOTH_REFUSE, "save it as .xlsx"),
    "roo-rb+roo/implicit_coordinates.xlsx": (BOTH_REFUSE, "save it as .xlsx"),
    "SheetJS+test_files/xlsx-stream-d-date-cell.xlsx": (BOTH_REFUSE, "save it as .xlsx"),
}


def _label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


WORKBOOKS = sorted(CORPUS.rglob("*.xlsx"))


@pytest.mark.parametrize("path", WORKBOOKS, ids=_label)
def test_a_real_workbook_reads_as_openpyxl_reads_it_or_is_refused_in_words(path: Path) -> None:
    outcome = compare(path)

    verdict, words = EXPECTED.get(_label(path), (SAME, ""))
    assert outcome.verdict not in DEFECTS, outcome.detail
    assert outcome.verdict == verdict, outcome.detail
    assert words in outcome.detail


def test_the_labels_name_workbooks_that_are_here() -> None:
    assert set(EXPECTED) <= {_label(p) for p in WORKBOOKS}
    assert OURS_ONLY not in {v for v, _ in EXPECTED.values()}


def test_the_workbooks_once_read_wrong_now_read_in_full() -> None:
    """The cases that came out "succeeded" with too few or wrong rows."""
    utf16 = compare(CORPUS / "roo-rb+roo" / "Pfand_from_windows_phone.xlsx")
    assert (utf16.verdict, utf16.rows) == (SAME, 7)  # a UTF-16 sheet: was 0 rows
    quoted = compare(
        CORPUS / "ExcelDataReader+ExcelDataReader" / "Test_Issue_NoStyles_NoRAttribute.xlsx"
    )
    assert quoted.verdict == SAME  # t='s' in single quotes: was "damaged (KeyError)"
    mac = compare(CORPUS / "dilshod+xlsx2csv" / "escape.xlsx")
    assert mac.verdict == SAME  # re-zipped on a Mac (__MACOSX/._*): was "declares a DTD"
