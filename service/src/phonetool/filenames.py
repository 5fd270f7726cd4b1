"""File names as members send them, made safe to show, to store and to build paths and
headers from.

A name is the member's text, not ours: it may hold a folder, control characters (CR/LF
would split a mail or HTTP header), invisible format characters (a right-to-left
override that disguises ``exe.csv``), or 300 Chinese characters, 900 bytes, where a file
system allows 255. Cleaned once, at upload; shortened by bytes where it becomes a path.
"""

from __future__ import annotations

import unicodedata

#: Characters of a name as shown and stored (the ``uploads.original_name`` column).
MAX_NAME_CHARS = 255
#: UTF-8 bytes of a result's stem: with "-checked.xlsx" and the scratch files' affixes a
#: result's name stays well under 255 bytes, what file systems allow.
MAX_STEM_BYTES = 150
#: Control, format, separator, surrogate, private and unassigned characters.
_DROPPED = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def clean_name(raw: str) -> str:
    """The name without its folder, the characters above and surrounding space; at most
    :data:`MAX_NAME_CHARS`, its extension kept. Empty when nothing is left."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED)
    name = " ".join(name.split())
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix) > 15:
        return name[:MAX_NAME_CHARS]
    return stem[: MAX_NAME_CHARS - len(suffix) - 1] + "." + suffix


def shorten_bytes(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    return text.encode()[:max_bytes].decode("utf-8", "ignore")
