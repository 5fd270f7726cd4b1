"""Which row first had each number: the duplicate column, in flat memory.

A dict of every distinct number grows with the list (about 80 MB for a million); a
SQLite file with a bounded page cache does the same job at a few µs a row, and its
memory does not depend on the list's length.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

_CACHE_KB = 8 * 1024


class FirstRows:
    """Remembers the first row of each number for one run; removed when closed."""

    def __init__(self, folder: Path) -> None:
        fd, name = tempfile.mkstemp(prefix=".first-rows.", suffix=".sqlite", dir=folder)
        os.close(fd)
        self._path = Path(name)
        self._db = sqlite3.connect(name, isolation_level=None)
        for pragma in (
            "journal_mode = OFF",  # a scratch file: nothing to recover after a crash
            "synchronous = OFF",
            "locking_mode = EXCLUSIVE",
            f"cache_size = -{_CACHE_KB}",
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE first (number INTEGER PRIMARY KEY, row INTEGER NOT NULL)")

    def duplicates_of(self, numbers: list[int], first_row: int) -> list[int]:
        """For rows ``first_row, first_row + 1, ...`` with these numbers (0: none), the row
        that had the number first, or 0 where this row is the first.

        Two statements a chunk, the numbers passed as one JSON array: SQLite walks the
        chunk in C, and only the duplicates come back to Python.
        """
        batch = json.dumps(numbers)
        db = self._db
        db.execute("BEGIN")
        db.execute(_INSERT, (first_row, batch))
        db.execute("COMMIT")
        out = [0] * len(numbers)
        for position, first in db.execute(_DUPLICATES, (batch, first_row)):
            out[position] = first
        return out

    def close(self) -> None:
        self._db.close()
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> FirstRows:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_INSERT = """
INSERT OR IGNORE INTO first (number, row)
SELECT value, ? + key FROM json_each(?) WHERE value != 0 ORDER BY key
"""
_DUPLICATES = """
SELECT chunk.key, first.row FROM json_each(?) AS chunk
JOIN first ON first.number = chunk.value
WHERE first.row != ? + chunk.key
"""
