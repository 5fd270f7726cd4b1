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
    pass
