"""Phone cells as shop back offices export them: masked numbers, privacy numbers with an
extension, numbers stored as spreadsheet numbers. Each cell of the corpus with the
outcome a shop's staff expect."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phonetool.pipeline import Options, process_file
from phonetool.pipeline.numbers.phones import annotate, cell_text

from .files import write_csv, write_xlsx_xlsxwriter

#: cell -> (E.164, national format, valid column, carrier, reason)
CORPUS: dict[object, tuple[str, str, str, str | None, str | None]] = {
    # Masked (the buyer hid the number): no E.164 ever; the visible digits kept.
    "138****5678": (
        "",
        "138 **** 5678",
        "masked",
        "中国移动",
        "masked: carrier from the visible digits",
    ),
    "+86 138****5678": (
        "",
        "138 **** 5678",
        "masked",
        "中国移动",
        "masked: carrier from the visible digits",
    ),
    "138＊＊＊＊5678": (
        "",
        "138 **** 5678",
        "masked",
        "中国移动",
        "masked: carrier from the visible digits",
    ),
    "138xxxx5678": (
        "",
        "138 **** 5678",
        "masked",
        "中国移动",
        "masked: carrier from the visible digits",
    ),
    "1381234****": (
        "",
        "138 1234 ****",
        "masked",
        "中国移动",
        "masked: place and carrier from the visible digits",
    ),
    "170****1234": ("", "170 **** 1234", "masked", None, "masked"),  # 170x: carriers differ
    "***********5": ("", "***********5", "masked", None, "masked"),
    # Privacy numbers: main number and extension, whatever separates them.
    "13800001111-2345": ("+8613800001111", "138 0000 1111 ext. 2345", "yes", "中国移动", None),
    "13800001111—2345": ("+8613800001111", "138 0000 1111 ext. 2345", "yes", "中国移动", None),
    "13800001111转2345": ("+8613800001111", "138 0000 1111 ext. 2345", "yes", "中国移动", None),
    "13800001111 ext 2345": ("+8613800001111", "138 0000 1111 ext. 2345", "yes", "中国移动", None),
    "13800001111#2345": ("+8613800001111", "138 0000 1111 ext. 2345", "yes", "中国移动", None),
    "13800001111,2345": ("+8613800001111", "138 0000 1111 ext. 2345", "yes", "中国移动", None),
    "010-12345678-123": ("+861012345678", "010 1234 5678 ext. 123", "yes", None, None),
    # Dashes that group digits are not extensions.
    "138-1234-5678": ("+8613812345678", "138 1234 5678", "yes", "中国移动", None),
    "0755-26543210": ("+8675526543210", "0755 2654 3210", "yes", None, None),
    # Numbers a spreadsheet stored as numbers.
    13912345680: ("+8613912345680", "139 1234 5680", "yes", "中国移动", None),
    "13912345680.0": ("+8613912345680", "139 1234 5680", "yes", "中国移动", None),
    "1.3912345680E10": ("+8613912345680", "139 1234 5680", "yes", "中国移动", None),
    # Still wrong, and said so.
    "1380000111": ("+861380000111", "", "no", None, "too short"),
    "13800001111-": ("+8613800001111", "138 0000 1111", "yes", "中国移动", None),
}


@pytest.mark.parametrize(("cell", "expected"), list(CORPUS.items()), ids=[str(c) for c in CORPUS])
def test_each_shop_export_cell_gets_its_expected_outcome(
    cell: object, expected: tuple[str, str, str, str | None, str | None]
) -> None:
    annotation = annotate(cell_text(cell), "CN")
    info, texts = annotation.info, annotation.texts

    assert (texts[0], texts[1], texts[2], info.carrier, info.invalid_reason) == expected


_MASK = st.sampled_from(["*", "＊", "x", "X", "×", "●", "•"])


@given(
    head=st.text("0123456789", max_size=8),
    mask=st.integers(2, 8).flatmap(lambda n: st.lists(_MASK, min_size=n, max_size=n)),
    tail=st.text("0123456789", max_size=6),
    country=st.sampled_from(["", "+86", "0086", "+86 "]),
    spaced=st.booleans(),
)
def test_a_masked_number_never_gets_an_e164(
    head: str, mask: list[str], tail: str, country: str, spaced: bool
) -> None:
    hidden = "".join(mask)
    cell = f"{country}{head} {hidden} {tail}" if spaced else f"{country}{head}{hidden}{tail}"

    annotation = annotate(cell, "CN")

    assert annotation.info.e164 is None
    assert annotation.number == 0  # nor a key for the duplicate index
    assert annotation.texts[2] in ("masked", "no")
    if annotation.texts[2] == "masked":
        digits = [c for c in annotation.texts[1] if c.isdigit()]
        assert "".join(digits) == head + tail  # the visible digits, none made up


def test_a_shop_export_counts_masked_numbers_apart_in_csv_and_xlsx(tmp_path: Path) -> None:
    rows = [
        ["订单编号", "收货人", "手机号"],
        ["1", "张三", "138****5678"],
        ["2", "李四", "13800001111-2345"],
        ["3", "王五", 13912345680.0],
        ["4", "赵六", "1380000111"],
    ]
    for name, write in [("o.csv", write_csv), ("o.xlsx", write_xlsx_xlsxwriter)]:
        source = write(tmp_path / name, rows if name.endswith("xlsx") else _texts(rows))
        result = process_file(source, tmp_path / f"out-{name}", Options(workers=1))

        summary = result.summary
        assert (summary["valid"], summary["invalid"], summary["masked"]) == (2, 1, 1)
        with result.csv.open(encoding="utf-8-sig", newline="") as f:
            out = list(csv.DictReader(f))
        assert [r["valid"] for r in out] == ["masked", "yes", "yes", "no"]
        assert out[0]["e164"] == ""
        assert out[1]["national_format"] == "138 0000 1111 ext. 2345"


def _texts(rows: list[list[object]]) -> list[list[str]]:
    return [[cell_text(c) for c in row] for row in rows]
