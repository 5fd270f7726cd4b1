"""Why an uploaded file cannot be processed, in words the member can act on.

Each is a clear, final answer about the file: a job that meets one fails without retrying,
and shows the message.

An error is raised in the job's own process, where nobody reads it, and read on a page or
in the log, in the reader's language. So it carries its text (English, the catalogs' key,
with ``%(name)s`` fields) and the values apart: ``str()`` is the English, and a job keeps
both, to be said in each reader's language (``jobs.failure_reason``).
"""

from __future__ import annotations

from typing import Any


def N_(text: str) -> str:
    """Marks ``text`` for the catalogs (``pybabel extract -k N_``) as it is: it is put in
    a language later, where someone reads it."""
    return text


class Worded(Exception):
    """An error whose message is a catalog text and its values."""

    def __init__(self, text: str, **params: Any) -> None:
        super().__init__(text % params if params else text)
        self.text = text
        self.params = params

    def __reduce__(self) -> tuple[object, ...]:
        # Crosses from the job's process to the web process: text and values both.
        return (_rebuild, (type(self), self.text, self.params))


def _rebuild(cls: type[Worded], text: str, params: dict[str, Any]) -> Worded:
    return cls(text, **params)  # a subclass's own keywords are among the values


class NotPlainSheet(Exception):
    """Not a member's error: the sheet holds XML that cutting by byte search cannot be
    trusted with (another encoding, a comment, a processing instruction, CDATA, rows in
    several elements or out of order, ...), so the pipeline reads it again from the start
    with the full parser (``sheet_rows.sheet_rows``). Raised before any row cut from such
    XML is counted, in the reading process or in a worker."""


class InputError(Worded):
    """The file cannot be processed as it is; the message says why and what to do."""


#: The XLSX reader met what no spreadsheet program writes; ``error`` is what it met.
DAMAGED_XLSX = N_("The XLSX file is damaged (%(error)s). Save it again and upload it.")


class UnsupportedFileError(InputError):
    pass


class EmptyFileError(InputError):
    pass


class BinaryFileError(InputError):
    pass


class EncodingError(InputError):
    pass


class CorruptFileError(InputError):
    pass


class FileTooLargeError(InputError):
    pass


class CellTooLargeError(InputError):
    pass


class RowsOutOfOrderError(CorruptFileError):
    pass


class NoDataRowsError(InputError):
    pass


class PhoneColumnNotFoundError(InputError):
    pass


class UnknownSheetError(InputError):
    pass


class UnknownProvinceError(InputError):
    def __init__(self, text: str, *, name: str = "", **params: Any) -> None:
        super().__init__(text, name=name, **params)
        self.name = name  # what was asked for


class LimitExceededError(InputError):
    """The file goes past a limit of its format or of the service. The message names the
    limit and the value seen; ``limit`` and ``seen`` hold them for whoever needs them."""

    def __init__(self, text: str, *, limit: int, seen: int | None = None, **params: Any) -> None:
        super().__init__(text, limit=limit, seen=seen, **params)
        self.limit = limit
        self.seen = seen


class MemoryLimitError(LimitExceededError):
    @classmethod
    def for_limit(cls, memory_mb: int) -> MemoryLimitError:
        return cls(
            N_(
                "Processing this file needed more memory than a job may use (%(mb)s MB"
                " per process), so it was stopped. A phone list of up to a million rows fits;"
                " this file holds something far larger (check that it is the right file), or"
                " split it and upload the parts."
            ),
            limit=memory_mb,
            mb=f"{memory_mb:,}",
        )
