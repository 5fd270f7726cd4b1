"""Counts for the summary sheet and the job's result, added up chunk by chunk."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .errors import N_


class Summary:
    """What a list held. Each worker counts its chunk; the main process adds them up and
    counts the duplicates, which only it can see."""

    def __init__(self) -> None:
        self.rows_in = 0
        self.rows_out = 0
        self.valid = 0
        self.invalid = 0
        self.masked = 0  # hidden digits: neither valid nor invalid
        self.duplicates = 0
        self.rows_cut = 0  # rows with more cells than the header: the extra ones left out
        self.rejected: Counter[str] = Counter()
        self.by_type: Counter[str] = Counter()
        self.by_province: Counter[str] = Counter()
        self.by_carrier: Counter[str] = Counter()
        self.invalid_reasons: Counter[str] = Counter()
        #: Set when the sheet suggests far more rows than were read (see run._short_read).
        self.short_read: dict[str, int] | None = None

    def add(self, other: Summary) -> None:
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.valid += other.valid
        self.invalid += other.invalid
        self.masked += other.masked
        self.duplicates += other.duplicates
        self.rows_cut += other.rows_cut
        self.rejected.update(other.rejected)
        self.by_type.update(other.by_type)
        self.by_province.update(other.by_province)
        self.by_carrier.update(other.by_carrier)
        self.invalid_reasons.update(other.invalid_reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "valid": self.valid,
            "invalid": self.invalid,
            "masked": self.masked,
            "duplicates": self.duplicates,
            "rows_with_extra_cells": self.rows_cut,
            "rejected": dict(self.rejected.most_common()),
            "invalid_reasons": dict(self.invalid_reasons.most_common()),
            "by_type": dict(self.by_type.most_common()),
            "by_province": dict(self.by_province.most_common()),
            "by_carrier": dict(self.by_carrier.most_common()),
            "short_read": self.short_read,
        }


def short_read_words(short: dict[str, int]) -> tuple[str, dict[str, str]]:
    """What a short read (``Summary.short_read``) means, as a catalog text and its values,
    to be said in the reader's language."""
    if "declared" in short:
        return N_(
            "Only %(read)s rows were read under the header, but the sheet says it holds"
            " %(declared)s. Check the result against the file; if rows are missing, save"
            " the file again from Excel or LibreOffice and upload it again."
        ), {"read": f"{short['read']:,}", "declared": f"{short['declared']:,}"}
    return N_(
        "Only %(read)s rows were read from %(mb)s MB of sheet, far fewer than that much"
        " sheet holds. Check the result against the file; if rows are missing, save the"
        " file again from Excel or LibreOffice and upload it again."
    ), {"read": f"{short['read']:,}", "mb": f"{short['sheet_bytes'] / 1024**2:,.1f}"}
