"""One phone cell: messy input in, the right annotation or a reason out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phonetool.pipeline.numbers.phones import cell_text, normalise
from phonetool.pipeline.numbers.regions import split_description


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "(138)12345678",
        "+86 138 1234 5678",
        "+8613812345678",
        "0086 13812345678",
        "8613812345678",
        "86 138 1234 5678",
        "１３８１２３４５６７８",  # full-width digits from a Chinese input method
        "1.3812345678E10",  # a spreadsheet's scientific notation
        " 13812345678\t",
    ],
)
def test_messy_forms_of_one_mobile_number_agree(raw: str) -> None:
    info = normalise(raw)

    assert info.valid
    assert info.e164 == "+8613812345678"
    assert info.national_format == "138 1234 5678"
    assert info.number_type == "mobile"
    assert (info.province, info.city) == ("江苏省", "连云港市")
    assert (info.province_en, info.city_en) == ("Jiangsu", "Lianyungang")
    assert (info.carrier, info.carrier_en) == ("中国移动", "China Mobile")


def test_float_cell_from_xlsx_becomes_the_digits() -> None:
    assert cell_text(13812345678.0) == "13812345678"
    assert normalise(cell_text(13812345678.0)).e164 == "+8613812345678"


def test_fixed_line_with_extension_text() -> None:
    info = normalise("010-62345678 转 123")

    assert info.valid
    assert info.number_type == "fixed_line"
    assert info.province == "北京市"
    assert info.national_format == "010 6234 5678 ext. 123"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("abc", "not a number"),
        ("1381234567", "too short"),
        ("138123456789", "too long"),
        ("12345", "too short"),
        ("99912345678", "bad prefix"),
        ("+999 1234", "invalid country code"),
    ],
)
def test_invalid_numbers_say_why(raw: str, reason: str) -> None:
    info = normalise(raw)

    assert not info.valid
    assert info.invalid_reason == reason


def test_foreign_number_keeps_its_region_and_no_chinese_province() -> None:
    info = normalise("+1 650 253 0000")

    assert info.valid
    assert info.region == "US"
    assert info.province is None


mobile_prefixes = st.sampled_from(["130", "135", "138", "139", "150", "158", "177", "186", "189"])


@given(prefix=mobile_prefixes, rest=st.integers(min_value=0, max_value=99_999_999))
@settings(max_examples=200, deadline=None)
def test_valid_numbers_round_trip_through_their_formats(prefix: str, rest: int) -> None:
    number = f"{prefix}{rest:08d}"
    info = normalise(number)

    assert info.valid
    assert info.e164 == f"+86{number}"
    assert normalise(info.e164).e164 == info.e164
    assert normalise(info.national_format or "").e164 == info.e164


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_text_gets_an_annotation_never_an_exception(raw: str) -> None:
    info = normalise(raw)

    assert info.valid or info.invalid_reason
    assert not (info.valid and info.invalid_reason)


@given(
    prefix=st.sampled_from(["", "0", "+1", "+44", "+852", "+86", "400", "800", "95", "1", "01"]),
    digits=st.text(alphabet="0123456789", min_size=3, max_size=12),
)
@settings(max_examples=500, deadline=None)
def test_annotation_agrees_with_phonenumbers_own_checks(prefix: str, digits: str) -> None:
    # The annotation takes shortcuts (validity from the number type, lookups that skip
    # re-checking it): they must give what the library's public checks give.
    import phonenumbers
    from phonenumbers import carrier, geocoder

    raw = prefix + digits
    info = normalise(raw)
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        assert not info.valid
        return
    assert info.valid == phonenumbers.is_valid_number(number)
    if not info.valid:
        return
    assert info.carrier == (carrier.name_for_number(number, "zh") or None)
    assert info.carrier_en == (carrier.name_for_number(number, "en") or None)
    if phonenumbers.region_code_for_number(number) == "CN":
        found, city = split_description(geocoder.description_for_number(number, "zh"))
        assert (info.province, info.city) == ((found.name, city) if found else (None, None))


@pytest.mark.parametrize("block", ["1381234", "1700123", "1990000", "1064123", "2161234"])
def test_numbers_of_one_block_share_lookups_only_where_the_library_agrees(block: str) -> None:
    # Place and carrier are looked up once per block of numbers: every number of the
    # block, whatever its type, must still get what the library's own lookups say.
    import phonenumbers
    from phonenumbers import carrier, geocoder

    for suffix in range(0, 10_000, 97):
        raw = f"{block}{suffix:04d}" if block.startswith("1") else f"0{block}{suffix:04d}"
        info = normalise(raw)
        number = phonenumbers.parse(raw, "CN")
        assert info.valid == phonenumbers.is_valid_number(number)
        if info.valid:
            assert info.carrier == (carrier.name_for_number(number, "zh") or None)
            found, city = split_description(geocoder.description_for_number(number, "zh"))
            assert (info.province, info.city) == ((found.name, city) if found else (None, None))


@given(
    digits=st.text(alphabet="0123456789", min_size=9, max_size=11).map(lambda d: "1" + d),
    form=st.sampled_from(["{}", "+86 {}", "0086{}", "+86-{}", "{} ", "86{}", "+852 {}"]),
    spaced=st.booleans(),
)
@settings(max_examples=500, deadline=None)
def test_the_parse_shortcut_gives_what_phonenumbers_gives(
    digits: str, form: str, spaced: bool
) -> None:
    import phonenumbers

    from phonetool.pipeline.numbers.phones import parse

    if spaced:
        digits = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    text = form.format(digits).strip()
    try:
        expected = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        with pytest.raises(phonenumbers.NumberParseException):
            parse(text, "CN")
        return
    assert parse(text, "CN") == expected


def test_the_national_format_shortcut_gives_what_phonenumbers_gives() -> None:
    import random

    import phonenumbers

    from phonetool.pipeline.numbers.phones import national_format

    rng = random.Random(3)
    for prefix in range(130, 200):
        for _ in range(30):
            number = phonenumbers.PhoneNumber(
                country_code=86, national_number=int(f"{prefix}{rng.randrange(10**8):08d}")
            )
            expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            assert national_format(number) == expected


def test_the_number_type_shortcut_gives_what_phonenumbers_gives() -> None:
    # Every six-digit prefix the shortcut covers, with suffixes at both ends and between.
    import random

    import phonenumbers

    from phonetool.pipeline.numbers import phones

    rng = random.Random(11)
    for prefix in range(130_000, 200_000):
        phones._types.clear()  # each number is looked up fresh, then from the cache
        for suffix in (0, 99_999, rng.randrange(100_000)):
            number = phonenumbers.PhoneNumber(
                country_code=86, national_number=prefix * 100_000 + suffix
            )
            assert phones.type_of(number) == phonenumbers.number_type(number), number


def test_numbers_of_a_mobile_block_get_what_their_own_annotation_says() -> None:
    # annotate keeps the first number's answer for the rest of its seven-digit block;
    # each number must still get what normalise, without that shortcut, says of it.
    import random

    from phonetool.pipeline.numbers import phones

    rng = random.Random(5)
    phones._mobile_blocks.clear()
    for prefix in range(1300, 2000):
        block = f"{prefix}{rng.randrange(1000):03d}"
        for suffix in (rng.randrange(10_000), rng.randrange(10_000), 9999):
            raw = f"{block}{suffix:04d}"
            assert phones.annotate(raw, "CN") == phones._annotation(normalise(raw)), raw
    assert len(phones._mobile_blocks) == 700 - 10  # but 179x: the library parses those


@given(
    digits=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    form=st.sampled_from(["{}", "+86 {}", "0086{}", "+86-{}", " {} ", "８６{}", "{}转12"]),
    spaced=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_annotate_agrees_with_normalise_in_every_form(digits: str, form: str, spaced: bool) -> None:
    from phonetool.pipeline.numbers import phones

    if spaced:
        digits = f"{digits[:3]} {digits[3:7]}-{digits[7:]}"
    raw = form.format(digits)
    annotation = phones.annotate(raw, "CN")

    assert annotation == phones._annotation(normalise(raw))
    assert annotation.number == (int(annotation.info.e164[1:]) if annotation.info.e164 else 0)
