"""What the pipeline says of one phone number: a module of its own, so that the parsing
(``phones``) and the reading of masked numbers (``masked``) both build it without
importing each other."""

from __future__ import annotations

from typing import NamedTuple


class PhoneInfo(NamedTuple):
    e164: str | None
    national_format: str | None
    valid: bool
    number_type: str | None
    region: str | None
    province: str | None
    city: str | None
    province_en: str | None
    city_en: str | None
    carrier: str | None
    carrier_en: str | None
    invalid_reason: str | None


#: Column headers of the annotation, in output order.
FIELDS: tuple[str, ...] = PhoneInfo._fields
