"""Province, city and carrier from one walk of phonenumbers' tables: the library's answers."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType, carrier, geocoder
from phonenumbers.carrierdata import CARRIER_DATA
from phonenumbers.geodata import GEOCODE_DATA

from phonetool.pipeline.numbers import places
from phonetool.pipeline.numbers.regions import split_description


def _library_place(number: phonenumbers.PhoneNumber, number_type: int) -> places.Place:
    """What the library's own lookups say, called as their documentation describes."""
    province = city = province_en = city_en = None
    if phonenumbers.is_number_type_geographical(number_type, 86):
        found, city = split_description(geocoder.description_for_valid_number(number, "zh"))
        if found:
            province, province_en = found.name, found.name_en
            en = geocoder.description_for_valid_number(number, "en")
            city_en = en.rpartition(", ")[0] or en
    name, name_en = None, None
    if number_type in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        name = carrier.name_for_valid_number(number, "zh") or None
        name_en = carrier.name_for_valid_number(number, "en") or None
    return places.Place(province, city, province_en, city_en, name, name_en)


def _numbers_under(prefix: str) -> list[phonenumbers.PhoneNumber]:
    """Numbers of 11 national digits (and one of 8, for fixed lines) starting with the
    E.164 ``prefix``: the tables may hold longer prefixes below it, or none."""
    national = prefix[2:]
    return [
        phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))
        for digits in (national.ljust(11, "0"), national.ljust(11, "9"), national.ljust(8, "5"))
        if digits and digits[0] != "0"
    ]


@pytest.mark.parametrize(
    ("table", "number_type"),
    [
        (GEOCODE_DATA, PhoneNumberType.FIXED_LINE),
        (CARRIER_DATA, PhoneNumberType.MOBILE),  # mobile numbers are geocoded too
    ],
    ids=["geocoder", "carrier"],
)
def test_every_chinese_prefix_in_the_tables_gets_the_library_answer(
    table: dict[str, dict[str, str]], number_type: int
) -> None:
    prefixes = sorted(key for key in table if key.startswith("86"))
    assert len(prefixes) > 50  # the tables are there and hold China
    for prefix in prefixes:
        for number in _numbers_under(prefix):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            expected = _library_place(number, number_type)
            places._places.clear()
            assert places.place_of(number, number_type, "CN", e164) == expected, e164


def test_a_number_outside_every_area_falls_back_as_the_library_does() -> None:
    # +86 10 is Beijing; +86 7 has no entry of its own at some lengths: whatever the
    # table holds, the answer is the library's, never a guess.
    for national in (10_1234_5678, 7_1234_5678, 5_0000_0000, 1_9999_9999):
        number = phonenumbers.PhoneNumber(country_code=86, national_number=national)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        for number_type in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
            places._places.clear()
            expected = _library_place(number, number_type)
            assert places.place_of(number, number_type, "CN", e164) == expected
