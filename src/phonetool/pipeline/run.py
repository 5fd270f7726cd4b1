"""The whole pipeline: read, annotate on all cores, mark duplicates, filter, export.

Rows flow in chunks. Parsing phone numbers is the CPU-heavy part; it runs in a pool of
worker processes with at most two chunks per worker in flight, so memory stays flat however
long the file is, and results come back in file order. Everything else runs here.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UnknownProvinceError
from .export import Exporter, Summary
from .phones import FIELDS, PhoneInfo, normalise_chunk
from .read import Table, open_table
from .regions import PROVINCES, find_province

if TYPE_CHECKING:
    from pathlib import Path

ProgressCallback = Callable[[int, int | None], None]

EXTRA_COLUMNS = [*FIELDS, "duplicate_of_row"]
REJECT_EMPTY = "empty row"
REJECT_OUTSIDE = "outside the selected provinces"
REJECT_NO_PROVINCE = "no province (invalid or not a Chinese number)"


@dataclass(frozen=True)
class Options:
    """What the member chose. ``provinces`` only counts when ``nationwide`` is False."""

    nationwide: bool = True
    provinces: tuple[str, ...] = ()
    phone_column: str | None = None
    sheet: str | None = None
    default_region: str = "CN"
    workers: int | None = None  # None: one per core; 1: parse in this process
    chunk_size: int = 2000


@dataclass
class Result:
    xlsx: Path
    csv: Path
    summary: dict[str, Any]
    kind: str
    encoding: str | None
    phone_column: str
    seconds: float = field(default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": {"xlsx": self.xlsx.name, "csv": self.csv.name},
            "summary": self.summary,
            "input": {
                "kind": self.kind,
                "encoding": self.encoding,
                "phone_column": self.phone_column,
            },
            "seconds": round(self.seconds, 3),
        }


def resolve_provinces(names: tuple[str, ...]) -> frozenset[str]:
    """Full Chinese names of the provinces asked for; an unknown name is an error."""
    found = set()
    for name in names:
        province = find_province(name)
        if province is None:
            known = "、".join(p.short for p in PROVINCES)
            raise UnknownProvinceError(f"Unknown province {name!r}. Use one of: {known}.")
        found.add(province.name)
    return frozenset(found)


def process_file(
    path: Path,
    out_dir: Path,
    options: Options = Options(),
    *,
    stem: str | None = None,
    progress: ProgressCallback | None = None,
) -> Result:
    """Run the pipeline on ``path``; write ``<stem>.xlsx`` and ``<stem>.csv`` in ``out_dir``."""
    started = time.monotonic()
    wanted = None if options.nationwide else resolve_provinces(options.provinces)
    table = open_table(path, phone_column=options.phone_column, sheet=options.sheet)
    exporter = Exporter(out_dir, stem or path.stem, table.headers, EXTRA_COLUMNS)
    summary = Summary()
    first_row: dict[int, int] = {}  # E.164 digits -> first row: half the memory of str keys
    done = 0
    try:
        for rows, infos in _annotated(table, options):
            for row, info in zip(rows, infos, strict=True):
                done += 1
                _one_row(table, exporter, summary, first_row, wanted, done, row, info)
            if progress is not None:
                progress(done, max(done, table.total_rows or 0))
        exporter.close(summary)
    except BaseException:
        exporter.abort()
        raise
    if progress is not None:
        progress(done, done)
    return Result(
        exporter.xlsx_path,
        exporter.csv_path,
        summary.as_dict(),
        table.kind,
        table.encoding,
        table.headers[table.phone_index],
        time.monotonic() - started,
    )


def _one_row(
    table: Table,
    exporter: Exporter,
    summary: Summary,
    first_row: dict[int, int],
    wanted: frozenset[str] | None,
    index: int,
    row: list[str],
    info: PhoneInfo,
) -> None:
    row_number = table.header_row + index
    phone = row[table.phone_index] if table.phone_index < len(row) else ""
    summary.rows_in += 1
    if not any(cell.strip() for cell in row):
        summary.rejected[REJECT_EMPTY] += 1
        exporter.reject(row_number, REJECT_EMPTY, "")
        return
    duplicate_of = None
    if info.e164 is not None:
        duplicate_of = first_row.setdefault(int(info.e164[1:]), row_number)
        if duplicate_of == row_number:
            duplicate_of = None
    if wanted is not None and info.province not in wanted:
        reason = REJECT_OUTSIDE if info.province else REJECT_NO_PROVINCE
        summary.rejected[reason] += 1
        exporter.reject(row_number, reason, phone)
        return
    summary.rows_out += 1
    if info.valid:
        summary.valid += 1
        summary.by_type[info.number_type or "unknown"] += 1
        summary.by_province[info.province or info.region or "unknown"] += 1
        summary.by_carrier[info.carrier or "unknown"] += 1
    else:
        summary.invalid += 1
        summary.invalid_reasons[info.invalid_reason or "unknown"] += 1
    if duplicate_of is not None:
        summary.duplicates += 1
    generated = [_text(v) for v in info]
    generated.append(str(duplicate_of) if duplicate_of is not None else "")
    exporter.write(row, generated)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _chunks(table: Table, size: int) -> Iterator[tuple[list[list[str]], list[str]]]:
    rows: list[list[str]] = []
    idx = table.phone_index
    for row in table.rows:
        rows.append(row)
        if len(rows) >= size:
            yield rows, [r[idx] if idx < len(r) else "" for r in rows]
            rows = []
    if rows:
        yield rows, [r[idx] if idx < len(r) else "" for r in rows]


def _annotated(table: Table, options: Options) -> Iterator[tuple[list[list[str]], list[PhoneInfo]]]:
    workers = options.workers or os.cpu_count() or 1
    chunks = _chunks(table, options.chunk_size)
    if workers == 1:
        for rows, phones in chunks:
            yield rows, normalise_chunk(phones, options.default_region)
        return
    pool = _pool(workers)
    inflight: deque[tuple[list[list[str]], Future[list[PhoneInfo]]]] = deque()
    try:
        for rows, phones in chunks:
            inflight.append((rows, pool.submit(normalise_chunk, phones, options.default_region)))
            if len(inflight) >= 2 * workers:
                done_rows, future = inflight.popleft()
                yield done_rows, future.result()
        while inflight:
            done_rows, future = inflight.popleft()
            yield done_rows, future.result()
    except BrokenProcessPool:
        _POOLS.pop(workers, None)
        raise
    finally:
        for _, future in inflight:
            future.cancel()


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool per size, kept for the life of the process: starting workers and loading
    the phone metadata in them costs about a second, once."""
    pool = _POOLS.get(workers)
    if pool is None:
        # forkserver, not fork: jobs run in a threaded web process, and a forked child
        # would inherit locks other threads held at that moment.
        context = multiprocessing.get_context("forkserver")
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        _POOLS[workers] = pool
    return pool


@atexit.register
def _shutdown_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)
