"""The size of a sheet, as Excel defines it: what the readers enforce while reading and
what the result must fit in. No more imports than this: the CSV reader needs it too."""

#: Excel's rows per sheet. A row numbered past it ends the read with an error: gaps are
#: never filled in, so a far row costs nothing until it is found.
MAX_ROWS = 1_048_576
#: Excel's columns per sheet (A to XFD).
MAX_COLUMNS = 16_384
