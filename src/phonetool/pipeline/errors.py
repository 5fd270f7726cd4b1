"""Why an uploaded file cannot be processed, in words the member can act on.

Each is a clear, final answer about the file: a job that meets one fails without retrying,
and shows the message.
"""

from __future__ import annotations


class InputError(Exception):
    """The file cannot be processed as it is; the message says why and what to do."""


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


class NoDataRowsError(InputError):
    pass


class PhoneColumnNotFoundError(InputError):
    pass


class UnknownSheetError(InputError):
    pass


class UnknownProvinceError(InputError):
    def __init__(self, message: str, *, name: str = "") -> None:
        super().__init__(message)
        self.name = name  # what was asked for


class LimitExceededError(InputError):
    """The file goes past a limit of its format or of the service. The message names the
    limit and the value seen; ``limit`` and ``seen`` hold them for whoever needs them."""

    def __init__(self, message: str, *, limit: int, seen: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.seen = seen

    def __reduce__(self) -> tuple[object, ...]:
        # Crosses from the job's process to the web process: keyword arguments included.
        return (_rebuild_limit_error, (type(self), str(self), self.limit, self.seen))


def _rebuild_limit_error(
    cls: type[LimitExceededError], message: str, limit: int, seen: int | None
) -> LimitExceededError:
    return cls(message, limit=limit, seen=seen)


class MemoryLimitError(LimitExceededError):
    @classmethod
    def for_limit(cls, memory_mb: int) -> MemoryLimitError:
        return cls(
            f"Processing this file needed more memory than a job may use ({memory_mb:,} MB"
            " per process), so it was stopped. A phone list of up to a million rows fits;"
            " this file holds something far larger (check that it is the right file), or"
            " split it and upload the parts.",
            limit=memory_mb,
        )
