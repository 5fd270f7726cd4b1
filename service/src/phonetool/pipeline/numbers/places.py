"""Province, city and carrier of a valid number, read from phonenumbers' own prefix data.

``geocoder.description_for_valid_number`` and ``carrier.name_for_valid_number`` each
format the number as E.164 and walk its digits from the longest prefix in their table
down to the first one that has the language asked for: four walks for the two languages
of the two tables, 8.8 µs for a number of a block not seen before. Here one walk a table
answers both languages: 3.8 µs. Tests hold the answers to the library's for every Chinese
prefix in its data.

Imported on first use: the geocoder's table is large, and only the processes that parse
(the workers, or a one-process run) should pay for it.
"""

from __future__ import annotations

from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneNumberType, geocoder
from phonenumbers.carrierdata import CARRIER_DATA, CARRIER_LONGEST_PREFIX
from phonenumbers.geodata import GEOCODE_DATA, GEOCODE_LONGEST_PREFIX

from .regions import split_description

Table = dict[str, dict[str, str]]


class Place(NamedTuple):
    """The part of an annotation that depends on the number's block, not its last digits."""

    province: str | None
    city: str | None
    province_en: str | None
    city_en: str | None
    carrier: str | None
    carrier_en: str | None


_MOBILE_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PAGER}
)


#: Keyed by the block's digits and the number type as one int, each distinct answer kept
#: once: ~80 bytes an entry where a (type, text) key and a tuple of its own took ~260.
_places: dict[int, Place] = {}
_distinct: dict[Place, Place] = {}  # a few thousand: cities times carriers
_PLACES_LIMIT = 100_000
#: Both tables are keyed by at most this many leading digits of the E.164 number.
_BLOCK_DIGITS = max(GEOCODE_LONGEST_PREFIX, CARRIER_LONGEST_PREFIX)


def place_of(
    number: phonenumbers.PhoneNumber, number_type: int, region: str | None, e164: str
) -> Place:
    """Province and city when the number is Chinese and geographical, carrier when it is
    mobile: under the same conditions as the library's ``*_for_number`` lookups.

    Looked up once per block of numbers sharing the digits the tables are keyed by
    (+86 138 1234 xxxx) and the type; a test checks whole blocks against the library.
    """
    # Digits without a leading zero: different prefixes are different ints. Types are < 128.
    key = int(e164[1 : 1 + _BLOCK_DIGITS]) << 7 | number_type
    found = _places.get(key)
    if found is None:
        found = look_up_place(number, number_type, region, e164)
        found = _distinct.setdefault(found, found)
        if len(_places) >= _PLACES_LIMIT:
            _places.clear()  # bounded memory beats a perfect hit rate
            _distinct.clear()
        _places[key] = found
    return found


def look_up_place(
    number: phonenumbers.PhoneNumber, number_type: int, region: str | None, e164: str
) -> Place:
    """:func:`place_of` without its cache."""
    digits = e164[1:]
    province = city = province_en = city_en = None
    if region == "CN" and phonenumbers.is_number_type_geographical(number_type, 86):
        zh, en = _names(GEOCODE_DATA, GEOCODE_LONGEST_PREFIX, digits)
        # No area in the table: the library falls back to the country's name.
        if zh is None:
            zh = geocoder.description_for_valid_number(number, "zh")
        found, city = split_description(zh)
        if found:
            province, province_en = found.name, found.name_en
            if en is None:
                en = geocoder.description_for_valid_number(number, "en")
            city_en = en.rpartition(", ")[0] or en
    carrier = carrier_en = None
    if number_type in _MOBILE_TYPES:
        carrier, carrier_en = _names(CARRIER_DATA, CARRIER_LONGEST_PREFIX, digits)
    return Place(province, city, province_en, city_en, carrier or None, carrier_en or None)


def _names(table: Table, longest: int, digits: str) -> tuple[str | None, str | None]:
    """The Chinese and English names of the longest prefixes of ``digits`` that have one,
    as the library's walk finds them (it does not fall back to English for Chinese)."""
    zh = en = None
    for length in range(min(longest, len(digits)), 0, -1):
        names = table.get(digits[:length])
        if names is None:
            continue
        if zh is None:
            zh = names.get("zh")
        if en is None:
            en = names.get("en")
        if zh is not None and en is not None:
            break
    return zh, en
