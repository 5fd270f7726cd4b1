"""The words the pipeline counts under, and the summary sheet said in the member's
language.

The pipeline runs in the job's own process, without Flask, so it reads the service's
catalog (``translations/<language>/LC_MESSAGES/messages.po``, the one the pages use)
itself, once per process. The summary's keys (outcomes, the reasons a number is invalid,
phonenumbers' number types) stay English in the JSON summary and the data columns, which
programs read; only what people read is translated.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.messages.pofile import read_po

from .errors import N_

if TYPE_CHECKING:
    from collections.abc import Callable

#: Languages with a catalog besides English, the source texts' language.
_CATALOGS = Path(__file__).resolve().parents[1] / "translations"

#: What the summary counts under, in words: outcomes, the reasons a number is invalid
#: (``phones.py``) and phonenumbers' number types, lower-cased.
KEYS = {
    "valid": N_("valid"),
    "invalid": N_("invalid"),
    "masked": N_("masked"),
    "other": N_("other"),
    "empty": N_("empty"),
    "not a number": N_("not a number"),
    "too short": N_("too short"),
    "too long": N_("too long"),
    "invalid length": N_("invalid length"),
    "invalid country code": N_("invalid country code"),
    "bad prefix": N_("bad prefix"),
    "mobile": N_("mobile"),
    "fixed_line": N_("fixed line"),
    "fixed_line_or_mobile": N_("fixed line or mobile"),
    "toll_free": N_("toll free"),
    "premium_rate": N_("premium rate"),
    "shared_cost": N_("shared cost"),
    "voip": N_("VoIP"),
    "personal_number": N_("personal number"),
    "pager": N_("pager"),
    "uan": N_("universal access number"),
    "voicemail": N_("voicemail"),
    "unknown": N_("unknown"),
}
#: The summary counts numbers with no province under their country's code.
NO_PROVINCE = N_("China, province unknown")


def key_words(key: str, say: Callable[..., str], *, names: bool = False) -> str:
    """How a summary key reads, through ``say`` (a gettext). Places and carriers
    (``names``) are shown as the summary holds them, but for the numbers with no province
    (counted under "CN") and the bars grouped as "other"; every other key is a word."""
    if names:
        if key == "CN":
            return say(NO_PROVINCE)
        return say(KEYS["other"]) if key == "other" else key
    return say(KEYS[key]) if key in KEYS else key


@functools.cache
def _catalog(language: str) -> dict[str, str]:
    path = _CATALOGS / language / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return {}  # English, or a language without a catalog: the source texts
    with path.open("rb") as po:
        return {str(m.id): str(m.string) for m in read_po(po) if m.id and m.string}


def translator(language: str) -> Callable[..., str]:
    """``gettext`` for ``language`` outside Flask: the text in that language (the English
    where it has none), with ``params`` filled in."""
    catalog = _catalog(language)

    def say(text: str, **params: Any) -> str:
        said = catalog.get(text, text)
        return said % params if params else said

    return say
