"""The whole pipeline: read, annotate on all cores, mark duplicates, filter, export.

Rows flow in chunks. Each chunk is annotated, filtered, counted and rendered as the text
of both exports in a pool of worker processes (:mod:`.work`), at most two chunks per
worker in flight, so memory stays flat however long the file is. Chunks come back in file
order; here they get what depends on the rows before them (row numbers, the duplicate
column) and are appended to the exports.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from . import lifeline
from .errors import N_, NotPlainSheet, UnknownProvinceError
from .numbers.phone_info import FIELDS
from .numbers.regions import PROVINCES, find_province
from .reading.read import Table, open_table
from .seen import FirstRows
from .summary import Summary
from .words import translator
from .work import Chunk, Layout, process_fragment, process_rows
from .writing.export import DUPLICATE_COLUMN, Exporter

if TYPE_CHECKING:
    from pathlib import Path

ProgressCallback = Callable[[int, int | None], None]
log = logging.getLogger(__name__)

EXTRA_COLUMNS = [*FIELDS, DUPLICATE_COLUMN]


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
    language: str = "en"  # of the summary sheet: the member's, in the service


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
            raise UnknownProvinceError(
                N_("Unknown province %(name)r. Use one of: %(known)s."), name=name, known=known
            )
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
    opened = functools.partial(
        open_table, path, phone_column=options.phone_column, sheet=options.sheet
    )
    table = opened()
    try:
        exporter, summary, done = _annotate(
            table, out_dir, stem or path.stem, options, wanted, progress
        )
    except NotPlainSheet as why:
        # Cut by byte search, the sheet's rows could come out wrong: read them all again
        # with the full XML parser, from the start, into new files.
        log.info("%s: %s; reading the sheet with the full XML parser", path.name, why)
        table = opened(plain=False)
        exporter, summary, done = _annotate(
            table, out_dir, stem or path.stem, options, wanted, progress
        )
    summary.short_read = _short_read(table, done)
    if summary.short_read is not None:
        log.warning(
            "%s: the sheet suggests more rows than were read: %s", path.name, summary.short_read
        )
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


#: Bytes of sheet XML a row of a phone list takes at the most, for :func:`_short_read`:
#: a row of 100 cells of 300 characters each is 40 KB.
MAX_BYTES_PER_ROW = 64 * 1024
#: Bytes of sheet XML below which its size says nothing of its rows (styles, columns).
SHEET_BYTES_FROM = 1024 * 1024


def _short_read(table: Table, rows: int) -> dict[str, int] | None:
    """A last guard for what no test imagined: an XLSX sheet that says (its
    ``<dimension>``) or shows (its XML's size) far more rows than were read. The job still
    succeeds, as the rows read are right; its summary and log say it, so nobody takes
    the count for the whole sheet."""
    if table.kind != "xlsx":
        return None
    declared = table.total_rows or 0
    size = table.sheet_bytes or 0
    if declared - rows >= 10 and rows * 2 < declared:
        return {"read": rows, "declared": declared}
    if size > SHEET_BYTES_FROM and rows * MAX_BYTES_PER_ROW < size:
        return {"read": rows, "sheet_bytes": size}
    return None


class Annotated(NamedTuple):
    """What annotating a table left: the closed exporter, the counts, the rows done."""

    exporter: Exporter
    summary: Summary
    rows: int


def _annotate(
    table: Table,
    out_dir: Path,
    stem: str,
    options: Options,
    wanted: frozenset[str] | None,
    progress: ProgressCallback | None,
) -> Annotated:
    """Every row of ``table`` annotated, counted and written; the exporter closed."""
    exporter = Exporter(out_dir, stem, table.headers, list(FIELDS), translator(options.language))
    layout = Layout(
        phone_index=table.phone_index,
        original=len(table.headers),
        region=options.default_region,
        wanted=wanted,
        refs=exporter.refs,
    )
    summary = Summary()
    done = 0
    try:
        with FirstRows(out_dir) as first_rows:
            for chunk in _processed(table, layout, options):
                summary.add(chunk.summary)
                summary.duplicates += exporter.add(
                    chunk, first_rows.duplicates_of(chunk.keys, chunk.first_row)
                )
                done += len(chunk.keys)
                if progress is not None:
                    progress(done, max(done, table.total_rows or 0))
        exporter.close(summary)
    except BaseException:
        exporter.abort()
        raise
    finally:
        table.close()
    return Annotated(exporter, summary, done)


def _chunks(table: Table, size: int) -> Iterator[tuple[int, list[list[str]]]]:
    """Rows in chunks, each with its first row's number in the upload."""
    first_row = table.header_row + 1
    while rows := list(itertools.islice(table.rows, size)):
        yield first_row, rows
        first_row += len(rows)


Work = tuple[Callable[..., list[Chunk]], tuple[Any, ...]]


def _work(table: Table, layout: Layout, options: Options) -> Iterator[Work]:
    """What to hand the workers: XLSX pieces to parse there, or rows read here."""
    fragments = table.fragments
    if fragments is not None:
        table.close()  # the header is found; the pieces are read from the file again
        for fragment in fragments:
            yield process_fragment, (fragment, fragments.shape, layout)
        return
    for first_row, rows in _chunks(table, options.chunk_size):
        yield process_rows, (rows, first_row, layout)


def _processed(table: Table, layout: Layout, options: Options) -> Iterator[Chunk]:
    """Chunks annotated and rendered, on all cores, in file order; at most two chunks a
    worker in flight, so memory does not depend on the file's length."""
    workers = options.workers or os.cpu_count() or 1
    work = _work(table, layout, options)
    if workers == 1:
        for function, args in work:
            yield from function(*args)
        return
    pool = _pool(workers)
    inflight: deque[Future[list[Chunk]]] = deque()
    try:
        for function, args in work:
            inflight.append(pool.submit(function, *args))
            if len(inflight) >= 2 * workers:
                yield from inflight.popleft().result()
        while inflight:
            yield from inflight.popleft().result()
    except BrokenProcessPool:
        _POOLS.pop(workers, None)
        raise
    finally:
        for future in inflight:
            future.cancel()


_POOLS: dict[int, ProcessPoolExecutor] = {}
_FORK_WORKERS = False


def fork_workers_here() -> None:
    """Start workers by forking this process, which must have the phone data loaded and
    no other thread: the job's own process (:mod:`.isolated`). They die with it."""
    global _FORK_WORKERS
    _FORK_WORKERS = True


def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool per size, kept for the life of the process: starting workers and loading
    the phone metadata in them costs about a second, once."""
    pool = _POOLS.get(workers)
    if pool is None and _FORK_WORKERS:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=lifeline.die_with_parent,
            initargs=(os.getpid(),),
        )
        _POOLS[workers] = pool
    if pool is None:
        # forkserver, not fork: jobs run in a threaded web process, and a forked child
        # would inherit locks other threads held at that moment.
        context = multiprocessing.get_context("forkserver")
        # The fork server loads the phone data once; the workers it forks share those
        # pages instead of each parsing ~110 MB of its own.
        context.set_forkserver_preload(["phonetool.pipeline.preload"])
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        _POOLS[workers] = pool
    return pool


@atexit.register
def shutdown_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()
