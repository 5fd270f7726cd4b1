"""Which row first had each number: the duplicate column, in flat memory.

A dict of every distinct number grows with the list (about 80 MB for a million); a
SQLite file with a bounded page cache does the same job at a few µs a row, and its
memory does not depend on the list's length.
"""

from __future__ import annotations

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
        that had the number first, or 0 where this row is the first."""
        pairs = [(n, first_row + i) for i, n in enumerate(numbers) if n]
        if not pairs:
            return [0] * len(numbers)
        db = self._db
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO first VALUES (?, ?)", pairs)
        db.execute("COMMIT")
        distinct = list({n for n, _ in pairs})
        found: dict[int, int] = {}
        for start in range(0, len(distinct), _BATCH):
            batch = distinct[start : start + _BATCH]
            marks = ",".join("?" * len(batch))
            query = f"SELECT number, row FROM first WHERE number IN ({marks})"
            found.update(db.execute(query, batch).fetchall())
        out = []
        for i, n in enumerate(numbers):
            first = found[n] if n else 0
            out.append(first if first != first_row + i else 0)
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


#: Bound parameters per query: well under SQLite's limit (32,766 since 3.32; 999 before).
_BATCH = 900
