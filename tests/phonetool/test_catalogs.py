"""The Chinese catalog says everything the code and the templates say, with the same
fields: a text added in English without its Chinese shows up here, not as English on a
Chinese page (or as a KeyError where a field was renamed in one of the two)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog, TranslationError
from babel.messages.checkers import python_format
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

import phonetool

SERVICE = Path(__file__).resolve().parents[2] / "service"
PACKAGE = Path(phonetool.__file__).parent
CHINESE = PACKAGE / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def _extracted() -> Catalog:
    """What ``pybabel extract -F babel.cfg -k say`` finds, run in service/ (``N_`` is a
    default keyword)."""
    with (SERVICE / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    catalog = Catalog()
    for filename, lineno, message, _comments, context in extract_from_dir(
        SERVICE,
        method_map,
        options_map,
        keywords={**DEFAULT_KEYWORDS, "say": None},
    ):
        catalog.add(message, locations=[(filename, lineno)], context=context)
    return catalog


def _chinese() -> Catalog:
    with CHINESE.open("rb") as po:
        return read_po(po)


def test_every_text_the_service_says_has_its_chinese() -> None:
    extracted, chinese = _extracted(), _chinese()
    assert len(extracted) > 100  # the extraction found the code and the templates

    missing = [
        f"{m.id!r} ({m.locations[0][0]}:{m.locations[0][1]})"
        for m in extracted
        if m.id and (chinese.get(m.id) is None or not chinese[m.id].string)
    ]
    assert not missing, "no Chinese for:\n" + "\n".join(missing)


def test_each_chinese_text_has_the_fields_of_its_english() -> None:
    chinese = _chinese()
    wrong = []
    for message in chinese:
        if not message.id or not message.string:
            continue
        message.flags.add("python-format")  # every text is formatted with its values
        try:
            python_format(chinese, message)
        except TranslationError as exc:
            wrong.append(f"{message.id!r}: {exc}")
    assert not wrong, "\n".join(wrong)


def test_the_catalog_holds_no_text_the_service_no_longer_says() -> None:
    extracted = _extracted()
    stale = [m.id for m in _chinese() if m.id and extracted.get(m.id) is None]
    assert not stale, "texts no longer in the code or the templates:\n" + "\n".join(stale)
