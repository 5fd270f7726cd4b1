"""Write the annotated rows as XLSX and CSV that open correctly in Excel and LibreOffice.

Both stream. The rows arrive rendered by the workers (:mod:`.work`); here they get their
row numbers and duplicate column and go to disk. The workbook is assembled at the end:
xlsxwriter writes the headers, styles, widths and the summary sheet, and the spooled rows
are spliced in (:mod:`.sheets`). Every cell that came from the upload is neutralised
against formula injection; the columns we generate are safe by construction.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import xlsxwriter

from ..errors import N_
from ..words import key_words
from .render import ROW_MARK, column_letters, inline_start, neutralise, width
from .sheets import SheetStream, splice

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable
    from pathlib import Path

    from ..summary import Summary
    from ..work import Chunk

DUPLICATE_COLUMN = "duplicate_of_row"
REJECTED_HEADERS = ["row", "reason", "phone"]
_WIDTH_CAP = 60


class Exporter:
    """Writes ``<stem>.xlsx`` (data, rejected and summary sheets) and ``<stem>.csv``."""

    def __init__(
        self,
        out_dir: Path,
        stem: str,
        headers: list[str],
        generated: list[str],
        say: Callable[..., str] = str,
    ) -> None:
        self._say = say  # the summary sheet's words, in the member's language
        out_dir.mkdir(parents=True, exist_ok=True)
        self.xlsx_path = out_dir / f"{stem}.xlsx"
        self.csv_path = out_dir / f"{stem}.csv"
        self._skeleton = out_dir / f".{stem}.skeleton.xlsx"
        named = [h or f"column {i + 1}" for i, h in enumerate(headers)]
        self._headers = [*named, *generated, DUPLICATE_COLUMN]
        letters = column_letters(len(self._headers))
        #: Cell references of every column but the last, for the workers to render with.
        self.refs = tuple(f"{col}{ROW_MARK}" for col in letters[:-1])
        self._duplicate_cell = inline_start(f"{letters[-1]}{ROW_MARK}").encode()
        self._widths = [width(h) for h in self._headers]
        self._data = SheetStream(out_dir, stem, "data")
        self._rejected = SheetStream(out_dir, stem, "rejected")
        self._csv_file = self.csv_path.open("wb")
        header = io.StringIO()
        csv.writer(header).writerow([neutralise(h) for h in self._headers])
        self._csv_file.write(header.getvalue().encode("utf-8-sig"))  # the BOM tells Excel

    def add(self, chunk: Chunk, duplicate_of: list[int]) -> int:
        """Append a chunk's rows; ``duplicate_of`` gives, per row of the chunk, the row
        that first had its number (0: none). Returns how many kept rows are duplicates."""
        for col, w in enumerate(chunk.widths):  # empty when the chunk kept no row
            if w > self._widths[col]:
                self._widths[col] = w
        xml_rows, csv_lines = chunk.kept_xml, chunk.kept_csv
        # Rows arrive finished with an empty duplicate column: only repeats are touched.
        firsts = map(duplicate_of.__getitem__, chunk.kept)
        repeats = [(i, first) for i, first in enumerate(firsts) if first]
        for i, first in repeats:
            xml_rows[i] = b"%s%s%d</t></is></c></row>" % (
                xml_rows[i][: -len(b"</row>")],
                self._duplicate_cell,
                first,
            )
            csv_lines[i] = b"%s,%d\r\n" % (csv_lines[i][: -len(b",\r\n")], first)
        self._data.add(xml_rows)
        self._csv_file.write(b"".join(csv_lines))
        self._rejected.add(chunk.rejected_xml)
        if repeats:
            self._widths[-1] = max(self._widths[-1], width(str(max(duplicate_of))))
        return len(repeats)

    def close(self, summary: Summary) -> None:
        self._csv_file.close()
        self._data.close()
        self._rejected.close()
        try:
            spooled = self._write_skeleton(summary)
            splice(self._skeleton, self.xlsx_path, spooled)
        finally:
            self._remove_spool()

    def abort(self) -> None:
        """Close and delete half-written files after an error."""
        self._csv_file.close()
        self._remove_spool()
        self.xlsx_path.unlink(missing_ok=True)
        self.csv_path.unlink(missing_ok=True)

    def _remove_spool(self) -> None:
        self._data.remove()
        self._rejected.remove()
        self._skeleton.unlink(missing_ok=True)

    def _write_skeleton(self, summary: Summary) -> dict[str, tuple[Path, str]]:
        """Headers, styles, widths and the summary sheet; returns where each big sheet's
        spooled rows go (xlsxwriter names sheet files by the order they were added)."""
        book = xlsxwriter.Workbook(str(self._skeleton), {"strings_to_numbers": False})
        header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        spooled: dict[str, tuple[Path, str]] = {}
        data_widths = [min(w + 2, _WIDTH_CAP) for w in self._widths]
        for stream, headers, widths in (
            (self._data, self._headers, data_widths),
            (self._rejected, REJECTED_HEADERS, [10, 30, 30]),
        ):
            last_col = column_letters(len(headers))[-1]
            for name, part, last_row in zip(
                stream.sheet_names(), stream.parts, stream.last_rows, strict=True
            ):
                ws = book.add_worksheet(name)
                for col, text in enumerate(headers):
                    ws.write_string(0, col, neutralise(text), header)
                    ws.set_column(col, col, widths[col])
                ws.freeze_panes(1, 0)
                member = f"xl/worksheets/sheet{len(book.worksheets())}.xml"
                spooled[member] = (part, f"A1:{last_col}{last_row}")
        _write_summary(book, header, summary, self._say)
        book.close()
        return spooled


def _write_summary(
    book: xlsxwriter.Workbook, header: object, summary: Summary, say: Callable[..., str]
) -> None:
    """The counts, and beside them the same as native charts (xlsxwriter's chart
    objects): they open in Excel and LibreOffice, and follow the counts if edited. Said
    by ``say``: the member's language."""
    ws = book.add_worksheet("summary")
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 14)
    row = 0
    placed: list[tuple[str, str, int, int]] = []  # chart type, title, first row, last row

    def section(title: str, items: list[tuple[str, int]], chart: str | None = None) -> None:
        nonlocal row
        ws.write_string(row, 0, title, header)
        ws.write_string(row, 1, say(N_("count")), header)
        row += 1
        first = row
        for label, count in items:
            ws.write_string(row, 0, neutralise(label))
            ws.write_number(row, 1, count)
            row += 1
        if chart and items:
            placed.append((chart, title, first, row - 1))
        row += 1

    def counted(counts: Counter[str], *, names: bool = False) -> list[tuple[str, int]]:
        return [(key_words(k, say, names=names), n) for k, n in counts.most_common()]

    section(
        say(N_("rows")),
        [
            (say(N_("rows read")), summary.rows_in),
            (say(N_("rows exported")), summary.rows_out),
            (say(N_("duplicates")), summary.duplicates),
            *(
                [
                    (
                        say(N_("rows with more cells than the header (extra cells left out)")),
                        summary.rows_cut,
                    )
                ]
                if summary.rows_cut
                else []
            ),
            *(
                (say(N_("rejected: %(reason)s"), reason=say(k)), v)
                for k, v in summary.rejected.most_common()
            ),
        ],
    )
    section(
        say(N_("numbers")),
        [
            (say(N_("valid numbers")), summary.valid),
            (say(N_("invalid numbers")), summary.invalid),
            (say(N_("masked numbers (digits hidden)")), summary.masked),
        ],
        "pie",
    )
    section(say(N_("invalid reason")), counted(summary.invalid_reasons), "bar")
    section(say(N_("province")), counted(summary.by_province, names=True), "bar")
    section(say(N_("carrier")), counted(summary.by_carrier, names=True), "pie")
    section(say(N_("number type")), counted(summary.by_type), "column")
    _add_charts(book, ws, placed)


#: Rows of the summary sheet a chart takes (at the default row height of 15 points).
_CHART_ROWS = 20


def _add_charts(
    book: xlsxwriter.Workbook, ws: object, placed: list[tuple[str, str, int, int]]
) -> None:
    for index, (kind, title, first, last) in enumerate(placed):
        chart = book.add_chart({"type": kind})
        chart.add_series(
            {
                "name": title,
                "categories": ["summary", first, 0, last, 0],
                "values": ["summary", first, 1, last, 1],
                "data_labels": {"value": True},
            }
        )
        chart.set_title({"name": title})
        if kind == "bar":
            chart.set_y_axis({"reverse": True})  # the largest first, at the top
            chart.set_size({"height": max(288, 20 * (last - first + 1) + 80)})
        if kind != "pie":
            chart.set_legend({"none": True})
        ws.insert_chart(index * _CHART_ROWS, 3, chart)  # type: ignore[attr-defined]
