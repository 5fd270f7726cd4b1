"""Read a phone list, annotate every number, export XLSX and CSV: ``process_file``."""

from .errors import InputError
from .run import Options, Result, process_file

__all__ = ["InputError", "Options", "Result", "process_file"]
