"""Write the annotated rows as XLSX and CSV that open correctly in Excel and LibreOffice.

Both writers stream: xlsxwriter's constant-memory mode keeps one row in memory, the CSV
writer none. Every cell that came from the upload is neutralised against formula
injection; the columns we generate (E.164 and the rest) are safe by construction.
"""

from __future__ import annotations

import csv
from collections import Counter
from typing import TYPE_CHECKING, Any

import xlsxwriter

if TYPE_CHECKING:
    from pathlib import Path

#: A spreadsheet runs a cell starting with one of these as a formula (OWASP, CSV Injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576
_WIDTH_CAP = 60


def neutralise(cell: str) -> str:
    """Prefix a formula trigger with an apostrophe so it shows as text, not runs."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def _width(text: str) -> int:
    # CJK characters take two columns in Excel's default font.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


class Summary:
    """Counts for the summary sheet and the job's result."""

    def __init__(self) -> None:
        self.rows_in = 0
        self.rows_out = 0
        self.valid = 0
        self.invalid = 0
        self.duplicates = 0
        self.rejected: Counter[str] = Counter()
        self.by_type: Counter[str] = Counter()
        self.by_province: Counter[str] = Counter()
        self.by_carrier: Counter[str] = Counter()
        self.invalid_reasons: Counter[str] = Counter()

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "valid": self.valid,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "rejected": dict(self.rejected.most_common()),
            "invalid_reasons": dict(self.invalid_reasons.most_common()),
            "by_type": dict(self.by_type.most_common()),
            "by_province": dict(self.by_province.most_common()),
            "by_carrier": dict(self.by_carrier.most_common()),
        }


class Exporter:
    """Writes ``<stem>.xlsx`` (data, rejected and summary sheets) and ``<stem>.csv``."""

    def __init__(self, out_dir: Path, stem: str, headers: list[str], extra: list[str]) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.xlsx_path = out_dir / f"{stem}.xlsx"
        self.csv_path = out_dir / f"{stem}.csv"
        self._book = xlsxwriter.Workbook(
            str(self.xlsx_path), {"constant_memory": True, "strings_to_numbers": False}
        )
        self._header_format = self._book.add_format(
            {"bold": True, "bg_color": "#DDEBF7", "border": 1}
        )
        self._headers = [h or f"column {i + 1}" for i, h in enumerate(headers)] + extra
        self._original = len(headers)
        self._widths = [_width(h) + 2 for h in self._headers]
        self._data = self._new_data_sheet()
        self._data_row = 1
        self._rejected = self._book.add_worksheet("rejected")
        self._write_header(self._rejected, ["row", "reason", "phone"])
        self._rejected_row = 1
        self._csv_file = self.csv_path.open("w", encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow([neutralise(h) for h in self._headers])

    def _new_data_sheet(self) -> Any:
        sheets = getattr(self, "_data_sheets", 0) + 1
        self._data_sheets = sheets
        ws = self._book.add_worksheet("data" if sheets == 1 else f"data ({sheets})")
        self._write_header(ws, self._headers)
        return ws

    def _write_header(self, ws: Any, headers: list[str]) -> None:
        for col, text in enumerate(headers):
            ws.write_string(0, col, neutralise(text), self._header_format)
        ws.freeze_panes(1, 0)

    def write(self, original: list[str], generated: list[str]) -> None:
        """One kept row: the member's cells (neutralised) and our annotation."""
        cells = [neutralise(c) for c in original[: self._original]]
        cells += [""] * (self._original - len(cells))
        cells += generated
        if self._data_row >= XLSX_MAX_ROWS:
            self._set_widths(self._data)
            self._data = self._new_data_sheet()
            self._data_row = 1
        for col, text in enumerate(cells):
            if text:
                self._data.write_string(self._data_row, col, text)
                if col < len(self._widths):
                    w = _width(text) + 2
                    if w > self._widths[col]:
                        self._widths[col] = w
        self._data_row += 1
        self._csv.writerow(cells)

    def reject(self, row_number: int, reason: str, phone: str) -> None:
        self._rejected.write_number(self._rejected_row, 0, row_number)
        self._rejected.write_string(self._rejected_row, 1, reason)
        self._rejected.write_string(self._rejected_row, 2, neutralise(phone))
        self._rejected_row += 1

    def _set_widths(self, ws: Any) -> None:
        for col, width in enumerate(self._widths):
            ws.set_column(col, col, min(width, _WIDTH_CAP))

    def close(self, summary: Summary) -> None:
        self._set_widths(self._data)
        self._rejected.set_column(0, 0, 10)
        self._rejected.set_column(1, 2, 30)
        self._write_summary(summary)
        self._book.close()
        self._csv_file.close()

    def abort(self) -> None:
        """Close and delete half-written files after an error."""
        try:
            self._csv_file.close()
            self._book.close()
        finally:
            self.xlsx_path.unlink(missing_ok=True)
            self.csv_path.unlink(missing_ok=True)

    def _write_summary(self, summary: Summary) -> None:
        ws = self._book.add_worksheet("summary")
        ws.set_column(0, 0, 28)
        ws.set_column(1, 1, 14)
        row = 0

        def section(title: str, items: list[tuple[str, int]]) -> None:
            nonlocal row
            ws.write_string(row, 0, title, self._header_format)
            ws.write_string(row, 1, "count", self._header_format)
            row += 1
            for label, count in items:
                ws.write_string(row, 0, neutralise(label))
                ws.write_number(row, 1, count)
                row += 1
            row += 1

        section(
            "rows",
            [
                ("rows read", summary.rows_in),
                ("rows exported", summary.rows_out),
                ("valid numbers", summary.valid),
                ("invalid numbers", summary.invalid),
                ("duplicates", summary.duplicates),
                *((f"rejected: {k}", v) for k, v in summary.rejected.most_common()),
            ],
        )
        section("invalid reason", summary.invalid_reasons.most_common())
        section("number type", summary.by_type.most_common())
        section("province", summary.by_province.most_common())
        section("carrier", summary.by_carrier.most_common())
