"""The durable job table and every state change made to it.

Every transition is one conditional ``UPDATE ... WHERE state = <expected>``: the database
decides who wins, so several processes (web servers, workers) can share one table on SQLite
or PostgreSQL without locks of their own. A stale runner — one whose lease expired and whose
job was handed to someone else — finds its final update matching no row and changes nothing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DisconnectionError, IntegrityError

from . import outage
from .errors import ConfigurationError, JobIdTakenError
from .forced import shielded
from .job import CANCELLED, FAILED, FINAL_STATES, QUEUED, RUNNING, Job
from .migrate import VERSION_TABLE, handoff_migrations
from .prepared import JobStatements, Prepared, run
from .schema import jobs_table, metadata, schedules_table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

_ERROR_MESSAGE_LIMIT = 4000
_TRACEBACK_LIMIT = 20000


def make_engine(url: str, options: dict[str, Any] | None = None) -> Engine:
    """An engine tuned for job traffic: WAL and a 30 s wait for the write lock on SQLite.

    ``options`` go to ``create_engine`` as they are (``HANDOFF_ENGINE_OPTIONS``): size the
    pool to the threads that submit (a web server's) plus the pool's own.
    """
    options = dict(options or {})
    if not url.startswith("sqlite"):
        engine = create_engine(url, **options)
        if "pool_pre_ping" not in options:  # the application's own choice stands
            _ping_when_idle(engine)
        return engine
    if url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url:
        raise ConfigurationError(
            "HANDOFF_DATABASE_URL is an in-memory SQLite database, which the worker threads"
            " and other processes cannot share. Use a file: sqlite:///path/to/jobs.sqlite3."
        )
    connect_args = {"check_same_thread": False, "timeout": 30, **options.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **options)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a killed process; only a power loss can drop the last
        # commits, the usual trade for an embedded queue.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints (copying the WAL into the database, with an fsync) run in the pool's
        # ticker thread, not in whichever request's commit crosses the threshold; this
        # larger threshold is the backstop for a process that only submits.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.close()

    return engine


#: A pooled connection idle this long is pinged before it is used again.
PING_AFTER_IDLE = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only if it sat idle ``PING_AFTER_IDLE`` s.

    A database restarted or a connection cut by a firewall shows on connections that
    waited in the pool; pinging every checkout (``pool_pre_ping``) cost a round trip per
    statement, which was a third of a claim. One used a moment ago is as good as pinged;
    one that failed its ping is replaced by the pool, as with ``pool_pre_ping``.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["handoff_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("handoff_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection failed its ping: {exc}") from exc


T = TypeVar("T")

#: How long a worker's write sleeps when the turn is taken: SQLite's busy handler's first
#: sleep, so workers back off as they did when they met SQLite's lock.
_WORKER_POLL = 0.001


class WriteTurns:
    """The turns this process's threads take to write one SQLite file.

    SQLite lets one connection write at a time; one that finds the file locked sleeps in
    its busy handler, 1 ms at the least and longer on each retry, so a request's hand-off
    that met a worker's claim took milliseconds (p99 1.7 ms paced, 3.9 ms in bursts).
    Here a hand-off queues on a lock and writes the moment the write under way commits.
    Workers' writes (claims, outcomes) poll for their turn, one worker at a time, and
    only while no hand-off waits: they never go before a hand-off, and do not wake each
    other at every turn (as queued threads do, which cost more CPU per short job than
    the job). Other processes still meet SQLite's busy handler.
    """

    def __init__(self) -> None:
        # Reentrant: a write made inside another write of the same thread must not wait.
        self._turn = threading.RLock()
        self._gate = threading.RLock()  # the one worker that polls the turn holds it
        self._count = threading.Lock()
        self._hand_offs_waiting = 0

    @contextlib.contextmanager
    def first(self) -> Iterator[None]:
        """A hand-off's turn: next after the write under way."""
        with self._count:
            self._hand_offs_waiting += 1
        try:
            self._turn.acquire()
        finally:
            with self._count:
                self._hand_offs_waiting -= 1
        try:
            yield
        finally:
            self._turn.release()

    @contextlib.contextmanager
    def behind(self) -> Iterator[None]:
        """A worker's turn: when no hand-off writes or waits."""
        _poll(self._gate.acquire)
        try:
            _poll(lambda blocking: not self._hand_offs_waiting and self._turn.acquire(blocking))
            try:
                yield
            finally:
                self._turn.release()
        finally:
            self._gate.release()


def _poll(take: Callable[[bool], bool]) -> None:
    while not take(False):
        time.sleep(_WORKER_POLL)


_sqlite_turns: dict[str, WriteTurns] = {}
_sqlite_turns_guard = threading.Lock()


def write_turns(engine: Engine) -> WriteTurns | None:
    """The turns for ``engine``'s SQLite file, shared by every store of this process on it;
    None on PostgreSQL, which locks rows, not the database."""
    if engine.dialect.name != "sqlite":
        return None
    path = os.path.realpath(engine.url.database or "")
    with _sqlite_turns_guard:
        return _sqlite_turns.setdefault(path, WriteTurns())


def fair_key(queue: str, identity: str | None) -> str:
    """Whose share a job counts in under fair release: its identity's, in its queue (a
    member's uploads in flight do not hold back the same member's mail)."""
    return f"{queue}\t{identity or ''}"


@functools.lru_cache(maxsize=64)
def _due_statement(queues: tuple[str, ...] | None, exclude_queues: tuple[str, ...]) -> Any:
    """``JobStore.due``'s query for these queues, with the time and the limit as parameters.

    Built once per set of queues and kept, for every store (SQLAlchemy compiles it per
    dialect in its own cache): building a statement and its cache key took ~1 ms of CPU,
    which a pool's ticker spent at every tick (20 a second in the tests, each app's) to
    find no job due; a statement kept has both, and only runs."""
    c = jobs_table.c
    stmt = select(c.id, c.identity, c.priority).where(
        c.state == QUEUED, c.run_after <= bindparam("p_now")
    )
    if queues is not None:
        stmt = stmt.where(c.queue.in_(queues))
    if exclude_queues:
        stmt = stmt.where(c.queue.not_in(exclude_queues))
    return stmt.order_by(c.priority.desc(), c.run_after).limit(bindparam("p_limit"))


class JobStore:
    """All reads and writes of ``handoff_jobs``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._statements = JobStatements(jobs_table, engine)
        #: The turns of SQLite's writers; None on PostgreSQL.
        self._turns = write_turns(engine)
        #: Reads, on PostgreSQL outside a transaction: each of its statements sees what was
        #: committed when it began either way (READ COMMITTED), and the BEGIN and the
        #: ROLLBACK around a read were two of its three round trips.
        self._reads = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )

    def _first(self) -> contextlib.AbstractContextManager[Any]:
        """Held by a hand-off's insert."""
        return self._turns.first() if self._turns else contextlib.nullcontext()

    def _behind(self) -> contextlib.AbstractContextManager[Any]:
        """Held by every other write, which lets hand-offs go first."""
        return self._turns.behind() if self._turns else contextlib.nullcontext()

    def _read(self, work: Callable[[Connection], T]) -> T:
        with shielded(), self._reads.connect() as conn:
            return work(conn)

    def _write(self, work: Callable[[Connection], T]) -> T:
        """One transaction: committed if ``work`` returns, rolled back if it raises."""
        with shielded(), self._behind(), self.engine.begin() as conn:
            return work(conn)

    def checkpoint(self) -> None:
        """Fold SQLite's write-ahead log into the database without waiting for anyone."""
        if self.engine.dialect.name == "sqlite":
            # Read the result row: an unread one keeps its statement open on the pooled
            # connection, and the next commit there fails ("SQL statements in progress").
            self._read(lambda conn: conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all())

    def create_tables(self) -> None:
        """Bring the job table to this release's schema: created, stamped or upgraded
        (:mod:`.migrate`)."""
        handoff_migrations.ensure_current(self.engine)

    def drop_tables(self) -> None:
        """Drop the job table and its migration history (tests, uninstalling)."""
        metadata.drop_all(self.engine, checkfirst=True)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")

    # -- writes ---------------------------------------------------------------------------

    def insert(self, values: dict[str, Any]) -> None:
        try:
            run(self.engine, self._statements.insert, values, self._first())
        except self.engine.dialect.dbapi.IntegrityError:  # type: ignore[union-attr]
            if self.get(values["id"]) is not None:
                raise JobIdTakenError(values["id"]) from None
            raise

    def claim(
        self, job_id: str, worker_id: str, lease_seconds: float, *, early: bool = False
    ) -> Job | None:
        """Take a due, queued job for this worker; None if someone else has it or it ended.

        ``early`` also takes a job waiting for its retry backoff (the eager backend).
        """
        now = time.time()
        values = {
            "p_id": job_id,
            "p_due_by": float("inf") if early else now,
            "p_worker": worker_id,
            "p_lease_until": now + lease_seconds,
            "p_now": now,
        }
        try:
            _, rows = run(self.engine, self._statements.claim, values, self._behind())
        except Exception as exc:
            if not outage.is_outage(exc):
                raise
            # The claim may have been made and only its answer lost (the connection cut
            # mid-statement): then the job is this worker's, and nobody else's lease
            # runs out for it. Read the row once the database answers.
            return outage.retry_while_away(
                self._claimed,
                job_id,
                worker_id,
                now,
                patience=lease_seconds,
                what=f"job {job_id}: its claim",
            )
        return Job.from_values(rows[0]) if rows else None

    def _claimed(self, job_id: str, worker_id: str, at: float) -> Job | None:
        """The job, if this claim (``worker_id`` at ``at``) is the one that took it."""
        job = self.get(job_id)
        if job is None or job.state != RUNNING:
            return None
        return job if job.worker_id == worker_id and job.started_at == at else None

    def _update(self, where: Any, **values: Any) -> bool:
        values["updated_at"] = time.time()
        stmt = update(jobs_table).where(where).values(**values)
        return self._write(lambda conn: bool(conn.execute(stmt).rowcount))

    def succeed(self, job_id: str, worker_id: str, attempt: int, result_json: str) -> bool:
        values = {"p_result": result_json, "p_now": time.time()}
        return self._finish(self._statements.succeed, job_id, worker_id, attempt, values)

    def fail(
        self,
        job_id: str,
        worker_id: str,
        attempt: int,
        error: tuple[str, str, str | None],
        *,
        state: str = FAILED,
        retry_at: float | None = None,
    ) -> bool:
        """Record an error: final (``state``) or, with ``retry_at``, back to queued."""
        error_type, message, traceback = error
        values = {
            "p_error_type": error_type[:200],
            "p_error_message": message[:_ERROR_MESSAGE_LIMIT],
            "p_error_traceback": traceback[-_TRACEBACK_LIMIT:] if traceback else None,
            "p_now": time.time(),
        }
        if retry_at is not None:
            values["p_retry_at"] = retry_at
            return self._finish(self._statements.retry, job_id, worker_id, attempt, values)
        values["p_state"] = state
        return self._finish(self._statements.fail, job_id, worker_id, attempt, values)

    def _finish(
        self, stmt: Prepared, job_id: str, worker_id: str, attempt: int, values: dict[str, Any]
    ) -> bool:
        """Only the worker that owns this attempt may end it: a stale one matches no row."""
        owner = {"p_id": job_id, "p_worker": worker_id, "p_attempt": attempt}
        count, _ = run(self.engine, stmt, {**values, **owner}, self._behind())
        return count == 1

    def progress(
        self, job_id: str, worker_id: str, done: int, total: int | None, message: str | None
    ) -> None:
        self._update(
            and_(jobs_table.c.id == job_id, jobs_table.c.worker_id == worker_id),
            progress_done=done,
            progress_total=total,
            progress_message=message[:500] if message else None,
        )

    def heartbeat(self, worker_id: str, lease_seconds: float, job_ids: Iterable[str]) -> None:
        """Renew the leases of the jobs this worker is running: only those named, so a job
        whose run ended without its outcome written (the database away past the lease)
        is left to run out and be queued again, not kept running for good."""
        ids = tuple(job_ids)
        if not ids:
            return
        self._update(
            and_(
                jobs_table.c.state == RUNNING,
                jobs_table.c.worker_id == worker_id,
                jobs_table.c.id.in_(ids),
            ),
            lease_until=time.time() + lease_seconds,
        )

    def release(self, worker_id: str, job_ids: Iterable[str]) -> int:
        """Hand unfinished jobs back to the queue at shutdown; the interrupted try is free."""
        released = 0
        for job_id in job_ids:
            released += self._update(
                and_(
                    jobs_table.c.id == job_id,
                    jobs_table.c.state == RUNNING,
                    jobs_table.c.worker_id == worker_id,
                ),
                state=QUEUED,
                worker_id=None,
                lease_until=None,
                run_after=time.time(),
                published_at=None,
                attempts=case((jobs_table.c.attempts > 0, jobs_table.c.attempts - 1), else_=0),
            )
        return released

    def recover_expired(self) -> tuple[list[str], list[str]]:
        """Re-queue running jobs whose worker stopped renewing its lease (it died).

        A job that has used all its attempts is failed with a reason instead. Returns the
        ids re-queued and the ids failed.
        """
        now = time.time()
        expired_stmt = select(
            jobs_table.c.id, jobs_table.c.attempts, jobs_table.c.max_attempts
        ).where(jobs_table.c.state == RUNNING, jobs_table.c.lease_until < now)
        rows = self._read(lambda conn: conn.execute(expired_stmt).all())
        requeued: list[str] = []
        failed: list[str] = []
        for job_id, attempts, max_attempts in rows:
            expired = and_(
                jobs_table.c.id == job_id,
                jobs_table.c.state == RUNNING,
                jobs_table.c.lease_until < now,
            )
            if attempts < max_attempts:
                if self._update(
                    expired,
                    state=QUEUED,
                    worker_id=None,
                    lease_until=None,
                    run_after=now,
                    published_at=None,
                    # The reason the next attempt, and whoever follows the job, can read.
                    error_type="WorkerLost",
                    error_message=(
                        f"The worker running attempt {attempts} stopped (killed or"
                        " crashed) before it finished; the job was queued again."
                    ),
                    error_traceback=None,
                ):
                    requeued.append(job_id)
            elif self._update(
                expired,
                state=FAILED,
                finished_at=now,
                lease_until=None,
                error_type="WorkerLost",
                error_message=(
                    f"The worker running this job stopped (killed or crashed) on each of"
                    f" {attempts} attempts, the task's max_attempts. The job was not run"
                    " again; look for the crash in the worker's log, then retry it."
                ),
            ):
                failed.append(job_id)
        return requeued, failed

    def request_cancel(self, job_id: str) -> str | None:
        """Cancel a queued job now; flag a running one. Returns the state afterwards."""
        now = time.time()
        queued = and_(jobs_table.c.id == job_id, jobs_table.c.state == QUEUED)
        if self._update(queued, state=CANCELLED, finished_at=now, cancel_requested=True):
            return CANCELLED
        running = and_(jobs_table.c.id == job_id, jobs_table.c.state == RUNNING)
        self._update(running, cancel_requested=True)
        job = self.get(job_id)
        return job.state if job else None

    def requeue(self, job_id: str) -> bool:
        """Manual retry of a failed or cancelled job, with a fresh attempt budget."""
        return self._update(
            and_(jobs_table.c.id == job_id, jobs_table.c.state.in_((FAILED, CANCELLED))),
            state=QUEUED,
            attempts=0,
            run_after=time.time(),
            published_at=None,
            cancel_requested=False,
            finished_at=None,
            error_type=None,
            error_message=None,
            error_traceback=None,
        )

    def purge(self, older_than: float) -> list[Job]:
        """Delete finished jobs older than ``older_than`` (epoch seconds); returns them."""
        where = and_(
            jobs_table.c.state.in_(tuple(FINAL_STATES)), jobs_table.c.finished_at < older_than
        )

        def delete(conn: Connection) -> list[Job]:
            gone = [Job.from_row(r) for r in conn.execute(select(jobs_table).where(where))]
            conn.execute(jobs_table.delete().where(where))
            return gone

        return self._write(delete)

    # -- reads ----------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise unless the database answers a query on the job table."""
        probe = select(jobs_table.c.id).limit(1)
        self._read(lambda conn: conn.execute(probe).all())

    def get(self, job_id: str) -> Job | None:
        stmt = select(jobs_table).where(jobs_table.c.id == job_id)
        row = self._read(lambda conn: conn.execute(stmt).first())
        return Job.from_row(row) if row else None

    def fingerprints(self, job_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """What each job shows a follower, and what the jobs it submitted show: equal
        fingerprints, nothing to tell. A lease's heartbeat changes none of it."""
        c = jobs_table.c
        shown = (c.state, c.progress_done, c.progress_total, c.progress_message, c.attempts)
        found: dict[str, list[Any]] = {}

        def look(conn: Connection) -> None:
            for start in range(0, len(job_ids), 500):  # within every database's bound on IN
                chunk = list(job_ids[start : start + 500])
                own = select(c.id, *shown).where(c.id.in_(chunk))
                children = (
                    select(c.parent_id, c.id, *shown)
                    .where(c.parent_id.in_(chunk))
                    .order_by(c.parent_id, c.created_at, c.id)
                )
                for row in conn.execute(own):
                    found[row[0]] = [tuple(row[1:])]
                for row in conn.execute(children):
                    if row[0] in found:
                        found[row[0]].append(tuple(row[1:]))

        self._read(look)
        return {job_id: tuple(parts) for job_id, parts in found.items()}

    def secrets_of(self, job_id: str) -> str | None:
        """The sealed secrets token; kept off ``Job`` so it cannot leak into a listing."""
        stmt = select(jobs_table.c.secrets).where(jobs_table.c.id == job_id)
        token = self._read(lambda conn: conn.execute(stmt).scalar())
        return token if isinstance(token, str) else None

    def list_jobs(
        self,
        *,
        identity: str | None = None,
        states: Sequence[str] = (),
        limit: int = 50,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> list[Job]:
        created = jobs_table.c.created_at
        stmt = select(jobs_table).order_by(
            created.asc() if oldest_first else created.desc(), jobs_table.c.id
        )
        if identity is not None:
            stmt = stmt.where(jobs_table.c.identity == identity)
        if states:
            stmt = stmt.where(jobs_table.c.state.in_(tuple(states)))
        page = stmt.limit(limit).offset(offset)
        return [Job.from_row(r) for r in self._read(lambda conn: conn.execute(page).all())]

    def mark_published(self, job_ids: Sequence[str]) -> None:
        """The broker has these queued jobs' messages (Celery backend): one write."""
        if job_ids:
            self._update(
                and_(jobs_table.c.id.in_(tuple(job_ids)), jobs_table.c.state == QUEUED),
                published_at=time.time(),
            )

    def mark_unpublished(self, job_ids: Sequence[str]) -> None:
        """The broker did not take these after all: the table's outbox has them again."""
        if job_ids:
            self._update(
                and_(jobs_table.c.id.in_(tuple(job_ids)), jobs_table.c.state == QUEUED),
                published_at=None,
            )

    def unpublished(
        self,
        settled_before: float | None,
        lost_before: float | None = None,
        limit: int = 500,
    ) -> list[tuple[str, str, float, str, int]]:
        """Queued jobs whose message is not with the broker, as (id, task, run_after,
        queue, priority), the most urgent first: the
        process that committed them died before publishing, or the broker was down. Only
        rows last changed before ``settled_before``, so a job that its own process is
        still sending is left alone.

        ``lost_before``: also queued jobs due and published before then, whose message
        the broker may have lost (a Redis restarted without persistence). Sending one
        again is harmless: a second delivery finds the job claimed.
        """
        c = jobs_table.c
        found = []
        if settled_before is not None:  # None: a fair publisher releases those itself
            found.append(and_(c.published_at.is_(None), c.updated_at < settled_before))
        if lost_before is not None:
            found.append(and_(c.published_at < lost_before, c.run_after < lost_before))
        if not found:
            return []
        never = or_(*found)
        stmt = (
            select(c.id, c.task, c.run_after, c.queue, c.priority)
            .where(c.state == QUEUED, never)
            .order_by(c.priority.desc(), c.run_after)
            .limit(limit)
        )
        return self._read(lambda conn: [tuple(row) for row in conn.execute(stmt)])

    def held(self, now: float, limit: int = 1000) -> list[tuple[str, tuple[Any, ...]]]:
        """Due queued jobs not yet handed to the broker, the most urgent first, each as
        (key, (id, task, run_after, queue, priority)): what a fair publisher chooses from.
        The key is the queue and the identity (``fair_key``)."""
        c = jobs_table.c
        stmt = (
            select(c.queue, c.identity, c.id, c.task, c.run_after, c.priority)
            .where(c.state == QUEUED, c.published_at.is_(None), c.run_after <= now)
            .order_by(c.priority.desc(), c.run_after)
            .limit(limit)
        )
        return self._read(
            lambda conn: [
                (fair_key(queue, identity), (job_id, task, run_after, queue, priority))
                for queue, identity, job_id, task, run_after, priority in conn.execute(stmt)
            ]
        )

    def in_flight_by_key(self) -> dict[str, int]:
        """Per queue and identity (``fair_key``), the jobs with the broker or running: what
        a fair publisher caps."""
        c = jobs_table.c
        stmt = (
            select(c.queue, c.identity, func.count())
            .where(or_(c.state == RUNNING, and_(c.state == QUEUED, c.published_at.is_not(None))))
            .group_by(c.queue, c.identity)
        )
        return self._read(lambda conn: {fair_key(q, i): int(n) for q, i, n in conn.execute(stmt)})

    def take_for_publishing(self, job_ids: Sequence[str]) -> set[str]:
        """Mark these queued, unpublished jobs published; the ones this call marked (not
        another publisher's) are returned, for this one to send."""
        if not job_ids:
            return set()
        c = jobs_table.c
        stmt = (
            update(jobs_table)
            .where(c.id.in_(tuple(job_ids)), c.state == QUEUED, c.published_at.is_(None))
            .values(published_at=time.time())
            .returning(c.id)
        )
        return self._write(lambda conn: set(conn.execute(stmt).scalars()))

    def count(
        self,
        *,
        identity: str | None = None,
        states: Sequence[str] = (),
        task: str | None = None,
        created_before: float | None = None,
    ) -> int:
        stmt = select(func.count()).select_from(jobs_table)
        if identity is not None:
            stmt = stmt.where(jobs_table.c.identity == identity)
        if states:
            stmt = stmt.where(jobs_table.c.state.in_(tuple(states)))
        if task is not None:
            stmt = stmt.where(jobs_table.c.task == task)
        if created_before is not None:
            stmt = stmt.where(jobs_table.c.created_at < created_before)
        return int(self._read(lambda conn: conn.execute(stmt).scalar_one()))

    def finished_since(self, since: float, task: str | None = None) -> tuple[int, float | None]:
        """How many jobs ended after ``since``, and when the first of them did."""
        c = jobs_table.c
        stmt = select(func.count(), func.min(c.finished_at)).where(
            c.finished_at > since, c.state.in_(tuple(FINAL_STATES))
        )
        if task is not None:
            stmt = stmt.where(c.task == task)
        count, first = self._read(lambda conn: conn.execute(stmt).one())
        return int(count), first

    def due(
        self,
        limit: int,
        *,
        queues: Sequence[str] | None = None,
        exclude_queues: Sequence[str] = (),
    ) -> list[tuple[str, str | None, int]]:
        """Queued jobs whose time has come, the highest priority first, then the soonest:
        their ids, identities and priorities. ``queues``: only theirs;
        ``exclude_queues``: none of theirs."""
        stmt = _due_statement(None if queues is None else tuple(queues), tuple(exclude_queues))
        values = {"p_now": time.time(), "p_limit": limit}
        return self._read(
            lambda conn: [(row[0], row[1], row[2]) for row in conn.execute(stmt, values)]
        )

    def count_by_task_and_state(self) -> list[tuple[str, str, int]]:
        """How many jobs each task has in each state (metrics)."""
        c = jobs_table.c
        stmt = select(c.task, c.state, func.count()).group_by(c.task, c.state)
        return self._read(lambda conn: [(r[0], r[1], int(r[2])) for r in conn.execute(stmt)])

    def oldest_due_by_queue(self, now: float) -> dict[str, float]:
        """Per queue, when its longest-waiting due job became due (metrics)."""
        c = jobs_table.c
        stmt = (
            select(c.queue, func.min(c.run_after))
            .where(c.state == QUEUED, c.run_after <= now)
            .group_by(c.queue)
        )
        return self._read(lambda conn: {r[0]: float(r[1]) for r in conn.execute(stmt)})

    # -- periodic schedules -----------------------------------------------------------------

    def schedule_last_due(self, name: str) -> float | None:
        """The last due time schedule ``name`` was run (or first seen) for; None: never
        seen."""
        c = schedules_table.c
        stmt = select(c.last_due).where(c.name == name)
        return self._read(lambda conn: conn.execute(stmt).scalar())

    def schedule_seen(self, name: str, due: float) -> None:
        """Schedule ``name`` is done with ``due``: the row moves forward, never back."""
        c = schedules_table.c
        now = time.time()
        moved = self._write(
            lambda conn: (
                conn.execute(
                    update(schedules_table)
                    .where(c.name == name, c.last_due < due)
                    .values(last_due=due, updated_at=now)
                ).rowcount
            )
        )
        if moved:
            return
        # Not moved: the row is missing, and this makes it; or it is at this due time or
        # later already (another process was first), and the insert fails, as it should.
        with contextlib.suppress(IntegrityError):
            self._write(
                lambda conn: conn.execute(
                    insert(schedules_table).values(name=name, last_due=due, updated_at=now)
                )
            )

    def cancel_requested(self, worker_id: str) -> set[str]:
        stmt = select(jobs_table.c.id).where(
            jobs_table.c.state == RUNNING,
            jobs_table.c.worker_id == worker_id,
            jobs_table.c.cancel_requested.is_(True),
        )
        return self._read(lambda conn: set(conn.execute(stmt).scalars()))
