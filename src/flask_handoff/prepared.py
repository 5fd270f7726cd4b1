"""The statements every job runs (insert, claim, finish), compiled once per database.

Building a SQLAlchemy statement and its cache key on each call cost a worker about 400 us
of CPU per job, more than SQLite itself; on a 2-core machine that CPU is taken from the
requests handing jobs off. These statements never change, so they are compiled once for
the engine's dialect and sent through the pooled DBAPI connection. Safe because every
column of the job table is a plain string, number or boolean that needs no conversion.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update

from .forced import shielded
from .job import QUEUED, RUNNING, SUCCEEDED

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy import Engine, Table
    from sqlalchemy.sql import Executable


#: The default ``writing``: the database itself orders writers (PostgreSQL).
_NOBODY_ELSE = nullcontext()


class Prepared:
    """One statement, compiled for one dialect, with its literal parameters filled in."""

    def __init__(self, stmt: Executable, engine: Engine) -> None:
        compiled = stmt.compile(dialect=engine.dialect)  # type: ignore[attr-defined]
        self.sql: str = compiled.string
        self.keys: list[str] | None = compiled.positiontup  # None for named paramstyles
        # Values written into the statement itself (state=RUNNING, lease_until=None).
        self.defaults: dict[str, Any] = {
            name: bind.value for name, bind in compiled.binds.items() if not bind.required
        }
        #: The names of the columns it returns (``RETURNING``), read once from the
        #: statement: psycopg builds ``cursor.description`` anew on every read, a column
        #: object per column, which was a fifth of a claim's CPU.
        self.returns: list[str] = [
            d["name"] for d in getattr(stmt, "returning_column_descriptions", ())
        ]

    def params(self, values: Mapping[str, Any]) -> Any:
        merged = {**self.defaults, **values}
        return [merged[k] for k in self.keys] if self.keys else merged


def run(
    engine: Engine,
    prepared: Prepared,
    values: Mapping[str, Any],
    writing: AbstractContextManager[Any] = _NOBODY_ELSE,
) -> tuple[int, list[Any]]:
    """Execute in one transaction; returns the row count and any rows returned, as dicts.

    ``writing`` is held from the statement to the commit only, not while the pool hands
    the connection out or takes it back: the less a writer holds it, the less the next
    one waits (:class:`.store.WriteTurns`).

    On PostgreSQL the statement runs in autocommit: one statement is its own transaction
    there, and a ``BEGIN`` and a ``COMMIT`` are a round trip each, which made a claim
    take 2.5 times as long (about 600 µs against 240 µs on one machine).
    """
    with shielded():
        return _run(engine, prepared, values, writing)


def _run(
    engine: Engine,
    prepared: Prepared,
    values: Mapping[str, Any],
    writing: AbstractContextManager[Any],
) -> tuple[int, list[Any]]:
    raw = engine.raw_connection()
    dbapi = raw.dbapi_connection
    alone = engine.dialect.name == "postgresql"
    try:
        with writing:
            try:
                if alone:
                    dbapi.autocommit = True  # type: ignore[union-attr]
                cursor = raw.cursor()
                try:
                    cursor.execute(prepared.sql, prepared.params(values))
                    names = prepared.returns
                    rows = (
                        [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
                        if names
                        else []
                    )
                    count = cursor.rowcount
                finally:
                    cursor.close()
                raw.commit()
                if alone:
                    dbapi.autocommit = False  # type: ignore[union-attr]
            except BaseException:
                try:
                    raw.rollback()
                    if alone:
                        dbapi.autocommit = False  # type: ignore[union-attr]
                except Exception:
                    # In a state nobody knows (cut off mid-statement): never pooled again.
                    raw.invalidate()
                raise
    finally:
        raw.close()
    return count, rows


class JobStatements:
    """The per-job statements for one engine."""

    def __init__(self, table: Table, engine: Engine) -> None:
        c = table.c
        owned = (
            c.id == bindparam("p_id"),
            c.state == RUNNING,
            c.worker_id == bindparam("p_worker"),
            c.attempts == bindparam("p_attempt"),
        )
        cleared_error: dict[str, Any] = {
            "error_type": None,
            "error_message": None,
            "error_traceback": None,
        }
        error: dict[str, Any] = {
            "error_type": bindparam("p_error_type"),
            "error_message": bindparam("p_error_message"),
            "error_traceback": bindparam("p_error_traceback"),
        }
        self.insert = Prepared(table.insert(), engine)
        self.claim = Prepared(
            update(table)
            .where(
                c.id == bindparam("p_id"),
                c.state == QUEUED,
                c.run_after <= bindparam("p_due_by"),
            )
            .values(
                state=RUNNING,
                worker_id=bindparam("p_worker"),
                lease_until=bindparam("p_lease_until"),
                attempts=c.attempts + 1,
                started_at=bindparam("p_now"),
                updated_at=bindparam("p_now"),
            )
            .returning(*c),
            engine,
        )

        def end_attempt(**values: Any) -> Prepared:
            """An update that only the worker owning this attempt can make."""
            stmt = update(table).where(*owned)
            return Prepared(
                stmt.values(updated_at=bindparam("p_now"), lease_until=None, **values), engine
            )

        self.succeed = end_attempt(
            state=SUCCEEDED,
            result=bindparam("p_result"),
            finished_at=bindparam("p_now"),
            **cleared_error,
        )
        self.fail = end_attempt(state=bindparam("p_state"), finished_at=bindparam("p_now"), **error)
        self.retry = end_attempt(
            state=QUEUED,
            run_after=bindparam("p_retry_at"),
            worker_id=None,
            published_at=None,
            **error,
        )
