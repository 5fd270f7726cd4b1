"""One phone cell in, its annotation out: E.164, format, validity, type, place, carrier.

Runs in worker processes, so everything here is a plain function of plain values.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from .masked import MASKED, has_mask, is_masked, masked_number
from .phone_info import PhoneInfo

_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid country code",
    NumberParseException.NOT_A_NUMBER: "not a number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_POSSIBLE_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "invalid country code",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "invalid length",
}
_EXTENSION_WORDS = re.compile(r"(转|分机|內線|内线)")
#: A privacy number's extension after a dash (``13800001111-2345``, ``…—2345``): only
#: read so when the whole is not a number and the part before the dash is one, since
#: dashes also group digits (``138-1234-5678``).
_DASH_EXTENSION = re.compile(r"(?P<main>.*\d)\s*[-—–―]\s*(?P<ext>\d{1,6})")
_SCIENTIFIC = re.compile(r"^\s*[+-]?\d+(\.\d+)?[eE][+-]?\d+\s*$")
#: A spreadsheet number saved as text by a CSV export: ``13912345680.0``.
_WHOLE_FLOAT = re.compile(r"\s*(\+?\d+)\.0+\s*")
_MAX_INPUT = 100  # phonenumbers refuses more than 250 characters; no phone needs 100


def _invalid(reason: str, e164: str | None = None) -> PhoneInfo:
    return PhoneInfo(e164, None, False, None, None, None, None, None, None, None, None, reason)


def cell_text(value: Any) -> str:
    """A cell as text the way the member sees it: 13812345678.0 and 1.3812345678E10 too."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def clean(raw: str) -> str:
    """Undo what spreadsheets and people do to numbers, leaving the rest to phonenumbers."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if _SCIENTIFIC.match(text):
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        if number == number.to_integral_value():
            return str(int(number))
    whole = _WHOLE_FLOAT.fullmatch(text)
    if whole is not None:
        return whole[1]
    return _EXTENSION_WORDS.sub(" ext ", text)


#: A Chinese mobile number as most lists hold it: 11 digits, maybe after +86 or 0086.
#: 179 is left out: it starts IP-dialling carrier codes that phonenumbers may strip.
_CN_MOBILE = re.compile(r"(?:\+86|0086)?(1(?:[3-68-9]\d|7[0-8])\d{8})")


def parse(text: str, region: str) -> phonenumbers.PhoneNumber:
    """``phonenumbers.parse``, with a shortcut for the form most rows hold.

    For a Chinese mobile number written as its 11 digits (spaces, dashes, +86 or 0086
    allowed) with region CN, the library's parse always ends with country code 86 and
    those digits; building that directly saves a third of an annotation. A property test
    holds the shortcut to the library's answer.
    """
    digits = _cn_mobile_digits(text) if region == "CN" else None
    if digits is not None:
        return phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))
    return phonenumbers.parse(text, region)


def _cn_mobile_digits(text: str) -> str | None:
    """The 11 digits of a Chinese mobile number in the form :data:`_CN_MOBILE` takes."""
    found = _CN_MOBILE.fullmatch(text.replace(" ", "").replace("-", ""))
    return None if found is None else found[1]


def _spaced(digits: str) -> str:
    """An 11-digit Chinese mobile number in its national format, "3 4 4"."""
    return f"{digits[:3]} {digits[3:7]} {digits[7:]}"


def national_format(number: phonenumbers.PhoneNumber) -> str:
    """``format_number(NATIONAL)``, with a shortcut for Chinese mobile numbers.

    In phonenumbers' data every pattern for China is digit groups of fixed lengths, and
    the first one that fits an 11-digit number starting 13-19 is "3 4 4" with no national
    prefix; choosing it costs the library ~14 µs, half of an annotation. A test compares
    the shortcut with the library over every 13x-19x prefix.
    """
    if number.country_code == 86 and number.extension is None:
        digits = str(number.national_number)
        if len(digits) == 11 and digits[0] == "1" and digits[1] >= "3":
            return _spaced(digits)
    return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)


_types: dict[int, int] = {}


def type_of(number: phonenumbers.PhoneNumber) -> int:
    """``phonenumbers.number_type``, looked up once per six-digit prefix for Chinese
    numbers of 11 digits starting 13-19.

    Of China's patterns in phonenumbers' data only the mobile one can match such a
    number, and it reads at most its first six digits (1740[0-5], then any six): so the
    type is a function of those six, at most 70,000 entries. A test compares the shortcut
    with the library for every such prefix.
    """
    nsn = number.national_number or 0
    if number.country_code == 86 and 13_000_000_000 <= nsn < 20_000_000_000:
        prefix = nsn // 100_000
        found = _types.get(prefix)
        if found is None:
            found = _types[prefix] = phonenumbers.number_type(number)
        return found
    return phonenumbers.number_type(number)


def normalise(raw: str, region: str = "CN") -> PhoneInfo:
    """Annotate one phone cell; never raises for bad input, which gets a reason instead."""
    return _normalise_clean(clean(raw), region)


def _normalise_clean(text: str, region: str) -> PhoneInfo:
    """:func:`normalise` of a cell already through :func:`clean`."""
    if not text:
        return _invalid("empty")
    if len(text) > _MAX_INPUT:
        return _invalid("too long")
    if not any(ch.isdigit() for ch in text):
        return _invalid("not a number")
    if has_mask(text):  # never parsed: a number made of the visible digits does not exist
        return masked_number(text, region) or _invalid("not a number")
    try:
        info = describe(parse(text, region))
    except NumberParseException as exc:
        info = _invalid(_PARSE_REASONS.get(exc.error_type, "not a number"))
    if not info.valid:
        return _with_dash_extension(text, region) or info
    return info


def _with_dash_extension(text: str, region: str) -> PhoneInfo | None:
    """``13800001111-2345`` as the main number and its extension, as ``…转2345`` is."""
    found = _DASH_EXTENSION.fullmatch(text)
    if found is None:
        return None
    try:
        main = parse(found["main"], region)
    except NumberParseException:
        return None
    if type_of(main) == PhoneNumberType.UNKNOWN:
        return None
    main.extension = found["ext"]
    return describe(main)


def describe(number: phonenumbers.PhoneNumber, *, cached_place: bool = True) -> PhoneInfo:
    """Everything :func:`normalise` says of a parsed number. ``cached_place=False`` looks
    the place up without the per-block cache, for callers that keep their own."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    # number_type is what is_valid_number computes too: UNKNOWN exactly when invalid.
    number_type = type_of(number)
    if number_type == PhoneNumberType.UNKNOWN:
        return _invalid(_invalid_reason(number), e164)
    from .places import look_up_place, place_of  # the geocoder's data: where numbers are parsed

    region_code = phonenumbers.region_code_for_number(number)
    find_place = place_of if cached_place else look_up_place
    place = find_place(number, number_type, region_code, e164)
    return PhoneInfo(
        e164,
        national_format(number),
        True,
        _TYPE_NAMES.get(number_type, "unknown"),
        region_code,
        *place,
        None,
    )


def _invalid_reason(number: phonenumbers.PhoneNumber) -> str:
    """Say what is wrong in the member's terms: China allows 5 to 12 digits for some
    numbers, so "possible" alone calls a mobile number missing a digit a "bad prefix"."""
    national = str(number.national_number)
    if number.country_code == 86:
        if len(national) < 7:
            return "too short"
        if national.startswith("1") and len(national) != 11:
            return "too short" if len(national) < 11 else "too long"
    possible = phonenumbers.is_possible_number_with_reason(number)
    return _POSSIBLE_REASONS.get(possible, "bad prefix")


class Annotation(NamedTuple):
    """An annotation with what the exports and the duplicate index need from it, worked
    out once for each distinct phone cell."""

    info: PhoneInfo
    texts: tuple[str, ...]  # the fields as the exports show them
    number: int  # the E.164 digits; 0 when there is no number


def annotate(raw: str, region: str) -> Annotation:
    """:func:`normalise` and the texts of its fields; most rows by the mobile shortcut."""
    text = clean(raw)
    if region == "CN" and len(text) <= _MAX_INPUT:
        digits = _cn_mobile_digits(text)
        if digits is not None:
            return _mobile(digits)
    return _annotation(_normalise_clean(text, region))


def _annotation(info: PhoneInfo) -> Annotation:
    # Every field is text or None but ``valid``, the third.
    e164, national, _, *rest = ["" if v is None else v for v in info]
    valid = "yes" if info.valid else (MASKED if is_masked(info) else "no")
    texts: tuple[Any, ...] = (e164, national, valid, *rest)
    return Annotation(info, texts, int(info.e164[1:]) if info.e164 else 0)


#: Per block of Chinese mobile numbers (their first seven digits): the fields and texts
#: after E.164 and national format, which the block decides (the first field is
#: ``valid``). Each distinct answer is kept once.
_mobile_blocks: dict[int, tuple[tuple[Any, ...], tuple[str, ...]]] = {}
_distinct_blocks: dict[tuple[Any, ...], tuple[tuple[Any, ...], tuple[str, ...]]] = {}
_BLOCKS_LIMIT = 100_000


def _mobile(digits: str) -> Annotation:
    """The annotation of an 11-digit Chinese mobile number, from its block's.

    Everything :func:`normalise` says of such a number but its E.164 and national
    format depends on its first seven digits alone: the type on the first six (see
    :func:`type_of`), the place and carrier on the nine-digit E.164 prefix (see
    ``places.place_of``), the reason it is invalid on its length. So the first number of
    a block is described in full (the place without ``place_of``'s cache, which this one
    replaces for these numbers) and the rest of the block is two string templates: ~3x
    faster. A test holds the two paths to the same answers.
    """
    key = int(digits[:7])
    block = _mobile_blocks.get(key)
    if block is None:
        number = phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))
        first = _annotation(describe(number, cached_place=False))
        found = (first.info[2:], first.texts[2:])
        block = _distinct_blocks.setdefault(found, found)
        if len(_mobile_blocks) >= _BLOCKS_LIMIT:
            _mobile_blocks.clear()  # bounded memory beats a perfect hit rate
            _distinct_blocks.clear()
        _mobile_blocks[key] = block
    fields, texts = block
    e164 = "+86" + digits
    if not fields[0]:  # invalid: no national format
        return Annotation(PhoneInfo(e164, None, *fields), (e164, "", *texts), int("86" + digits))
    national = _spaced(digits)
    return Annotation(
        PhoneInfo(e164, national, *fields), (e164, national, *texts), int("86" + digits)
    )


_cache: dict[tuple[str, str], Annotation] = {}
_CACHE_LIMIT = 50_000


def annotate_chunk(raws: list[str], region: str) -> list[Annotation]:
    """Annotate a chunk; a value seen before in this worker is not parsed again."""
    out = []
    for raw in raws:
        key = (raw, region)
        found = _cache.get(key)
        if found is None:
            found = annotate(raw, region)
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()  # bounded memory beats a perfect hit rate
            _cache[key] = found
        out.append(found)
    return out
