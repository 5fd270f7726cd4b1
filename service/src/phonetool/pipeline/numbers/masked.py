"""Masked numbers, as shop back offices export a buyer's hidden number (``138****5678``).

A masked number is its own outcome: never an E.164 (the hidden digits are not known, and
any number made up from the visible ones does not exist), its visible digits kept, and
its place and carrier given only where the visible prefix decides them, for every number
it could be: ``+86 138`` is China Mobile whatever follows, while no city is known before
the seventh digit.
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache

from .phone_info import PhoneInfo
from .regions import split_description

#: The outcome, in the ``valid`` column and at the start of the reason.
MASKED = "masked"
#: Characters back offices hide digits with (full-width asterisks are made plain by NFKC first).
_MASK_CHARS = "*xX×●•"
_MASKED = re.compile(
    rf"(?P<country>\+86|0086)?(?P<head>\d*)(?P<mask>[{re.escape(_MASK_CHARS)}]{{2,}})(?P<tail>\d*)"
)
#: A number's digits, hidden ones included: what phone numbers have in China.
_MIN_LENGTH, _MAX_LENGTH = 7, 12

Table = dict[str, dict[str, str]]


_MASK_RUN = re.compile(rf"[{re.escape(_MASK_CHARS)}]{{2,}}")


def has_mask(text: str) -> bool:
    """Digits hidden in ``text``: whatever it is, no number can be read from it."""
    return _MASK_RUN.search(text) is not None


def is_masked(info: PhoneInfo) -> bool:
    return (info.invalid_reason or "").startswith(MASKED)


def masked_number(text: str, region: str) -> PhoneInfo | None:
    """The annotation of a masked number, or None if ``text`` is not one."""
    found = _MASKED.fullmatch(text.replace(" ", "").replace("-", ""))
    if found is None or (region != "CN" and found["country"] is None):
        return None
    head, mask, tail = found["head"], found["mask"], found["tail"]
    if not head and not tail:
        return None
    length = len(head) + len(mask) + len(tail)
    if not _MIN_LENGTH <= length <= _MAX_LENGTH:
        return None
    return _describe(head, "*" * len(mask), tail)


@lru_cache(maxsize=10_000)  # bounded: a hostile file can hold a million distinct masks
def _describe(head: str, mask: str, tail: str) -> PhoneInfo:
    # The geocoder's and carriers' tables (~100 MB) only where numbers are parsed: the web
    # process and the reading process import this module and never describe a number.
    from phonenumbers.carrierdata import CARRIER_DATA, CARRIER_LONGEST_PREFIX
    from phonenumbers.geodata import GEOCODE_DATA, GEOCODE_LONGEST_PREFIX

    shown = head + mask + tail
    mobile = len(shown) == 11 and shown.startswith("1")
    national = f"{shown[:3]} {shown[3:7]} {shown[7:]}" if mobile else shown
    province = city = province_en = city_en = carrier = carrier_en = None
    known: list[str] = []
    geo = _decided(GEOCODE_DATA, GEOCODE_LONGEST_PREFIX, "86" + head)
    if geo is not None:
        region, city = split_description(geo[0])
        if region is not None:
            province, province_en = region.name, region.name_en
            city_en = geo[1].rpartition(", ")[0] or geo[1]
            known.append("place")
    if mobile:
        names = _decided(CARRIER_DATA, CARRIER_LONGEST_PREFIX, "86" + head)
        if names is not None:
            carrier, carrier_en = names
            known.append("carrier")
    reason = f"{MASKED}: {' and '.join(known)} from the visible digits" if known else MASKED
    return PhoneInfo(
        None,
        national,
        False,
        "mobile" if mobile and carrier else None,
        "CN",
        province,
        city or None,
        province_en,
        city_en,
        carrier,
        carrier_en,
        reason,
    )


def _decided(table: Table, longest: int, digits: str) -> tuple[str, str] | None:
    """The (Chinese, English) names every number starting with ``digits`` gets from
    ``table``, or None when they differ. Conservative: the digits must reach an entry of
    their own (an entry for a prefix of them), and every longer entry under them must
    say the same; otherwise some completion could be named otherwise, or not at all."""
    fallback = None
    for length in range(min(longest, len(digits)), 0, -1):
        names = table.get(digits[:length])
        if names is not None and "zh" in names and "en" in names:
            fallback = (names["zh"], names["en"])
            break
    if fallback is None:
        return None
    keys = _sorted_keys(table)
    start = bisect.bisect_right(keys, digits)  # longer keys under the digits
    for key in keys[start:]:
        if not key.startswith(digits):
            break
        names = table[key]
        if (names.get("zh"), names.get("en")) != fallback and ("zh" in names or "en" in names):
            return None
    return fallback


_KEYS: dict[int, list[str]] = {}


def _sorted_keys(table: Table) -> list[str]:
    """The table's prefixes in order, sorted once per process (the tables never change)."""
    keys = _KEYS.get(id(table))
    if keys is None:
        keys = _KEYS[id(table)] = sorted(table)
    return keys
