"""The job table: claims are atomic, stale runners change nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from flask_handoff import store as store_module
from flask_handoff.errors import JobIdTakenError
from flask_handoff.schema import jobs_table
from flask_handoff.store import JobStore, make_engine
from flask_handoff.testing import wait_for_job

from . import sample

# The store alone: which backend runs the jobs cannot change what it answers.
pytestmark = pytest.mark.runs_on(backend="thread")


def _queued_job(app: Flask) -> str:
    app.extensions["handoff"].backend.shutdown(0)  # keep the app's own workers out of it
    with app.app_context():
        return sample.whoami.submit(identity="alice").id


def _store(app: Flask) -> JobStore:
    store: JobStore = app.extensions["handoff"].store
    return store


def test_only_one_of_many_concurrent_claims_wins(app: Flask) -> None:
    job_id = _queued_job(app)
    store = _store(app)
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def claim(worker: str) -> None:
        barrier.wait()
        if store.claim(job_id, worker, 60) is not None:
            winners.append(worker)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(winners) == 1
    job = store.get(job_id)
    assert job is not None
    assert job.state == "running"
    assert job.worker_id == winners[0]
    assert job.attempts == 1


def test_a_stale_runner_cannot_overwrite_the_new_owner(app: Flask) -> None:
    job_id = _queued_job(app)
    store = _store(app)
    store.claim(job_id, "old", lease_seconds=-1)  # lease already expired: its worker died
    requeued, failed = store.recover_expired()
    assert (requeued, failed) == ([job_id], [])
    assert store.claim(job_id, "new", 60) is not None

    assert not store.succeed(job_id, "old", 1, '"late"')
    assert store.succeed(job_id, "new", 2, '"fresh"')
    job = store.get(job_id)
    assert job is not None
    assert (job.state, job.result, job.attempts) == ("succeeded", "fresh", 2)


def test_a_job_not_yet_due_cannot_be_claimed(app: Flask) -> None:
    app.extensions["handoff"].backend.shutdown(0)
    with app.app_context():
        job = sample.whoami.submit(identity="alice", delay=60)

    assert _store(app).claim(job.id, "w", 60) is None
    assert _store(app).due(10) == []


def test_purge_removes_only_old_finished_jobs(app: Flask) -> None:
    job_id = _queued_job(app)
    store = _store(app)
    store.claim(job_id, "w", 60)
    store.succeed(job_id, "w", 1, "null")
    kept = _queued_job(app)

    assert store.purge(time.time() - 3600) == []
    gone = store.purge(time.time() + 1)
    assert [j.id for j in gone] == [job_id]
    assert store.get(job_id) is None
    assert store.get(kept) is not None


@pytest.mark.runs_on(database="sqlite", backend="thread")  # SQLite's WAL checkpoints
def test_jobs_succeed_first_time_while_the_ticker_checkpoints_often(make_app: Any) -> None:
    # A checkpoint whose result stayed unread left a statement open on a pooled
    # connection; a worker given that connection then failed its commit.
    app = make_app(HANDOFF_POLL_INTERVAL=0.002)
    with app.app_context():
        ids = [sample.whoami.submit(identity="alice").id for _ in range(2000)]

    jobs = [wait_for_job(app, job_id, timeout=60) for job_id in ids]

    assert {(job.state, job.attempts) for job in jobs} == {("succeeded", 1)}


@pytest.mark.runs_on(database="sqlite")  # one writer per database file: SQLite's rule
def test_a_hand_off_waits_behind_the_write_under_way_not_behind_the_workers(
    app: Flask,
) -> None:
    # SQLite's busy handler let waiting writers in by chance: a request's hand-off that
    # met the workers' claims could wait for all of them, a millisecond and more each.
    store = _store(app)
    job_ids = [_queued_job(app) for _ in range(8)]
    writing, release = threading.Event(), threading.Event()
    handed_off = "the-hand-off"
    #: Per claim, once it has committed: had the hand-off's row been committed before?
    before_the_hand_off: list[bool] = []

    def long_write(conn: Any) -> None:  # a write under way, say the ticker's
        conn.exec_driver_sql("UPDATE handoff_jobs SET updated_at = updated_at")
        writing.set()
        release.wait(10)

    def claim(job_id: str) -> None:
        store.claim(job_id, f"worker-{job_id}", 60)
        before_the_hand_off.append(store.get(handed_off) is None)

    def hand_off() -> None:
        with app.app_context():
            sample.whoami.submit(identity="bob", job_id=handed_off)

    holder = threading.Thread(target=store._write, args=(long_write,))
    holder.start()
    assert writing.wait(10)
    waiting = [threading.Thread(target=claim, args=(job_id,)) for job_id in job_ids]
    waiting.append(threading.Thread(target=hand_off))
    for thread in waiting:
        thread.start()
    time.sleep(0.5)  # every one of them has come to the locked database by now
    assert before_the_hand_off == []
    release.set()
    for thread in [holder, *waiting]:
        thread.join(30)

    assert len(before_the_hand_off) == 8
    assert store.get(handed_off) is not None
    # At most the one worker already polling for the turn goes first (before: 3 to 8).
    assert sum(before_the_hand_off) <= 1, before_the_hand_off


@pytest.mark.runs_on(database="postgresql", backend="thread")  # autocommit is PostgreSQL's
def test_a_write_of_many_statements_stays_one_transaction_after_single_statements(
    app: Flask, database_url: str
) -> None:
    # The single statements (insert, claim, outcome) run in autocommit on PostgreSQL; the
    # pooled connection must come back to transactions, or a write of several statements
    # that fails halfway would keep its first half.
    job_id = _queued_job(app)
    store = JobStore(make_engine(database_url, {"pool_size": 1, "max_overflow": 0}))
    try:
        with pytest.raises(JobIdTakenError):  # a single statement that failed
            store.insert(_row_of(store, job_id))
        assert store.claim(job_id, "w", 60) is not None
        assert store.claim(job_id, "w", 60) is None  # matched no row

        def half_then_fail(conn: Any) -> None:
            conn.execute(update(jobs_table).where(jobs_table.c.id == job_id).values(result='"x"'))
            raise RuntimeError("the second half failed")

        with pytest.raises(RuntimeError):
            store._write(half_then_fail)
        job = store.get(job_id)
        assert job is not None
        assert (job.state, job.result) == ("running", None)
    finally:
        store.engine.dispose()


def _row_of(store: JobStore, job_id: str) -> dict[str, Any]:
    with store.engine.connect() as conn:
        row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).mappings().one()
    return dict(row)


@pytest.mark.runs_on(database="postgresql", backend="thread")
def test_a_pooled_connection_cut_while_idle_is_replaced_before_the_next_write(
    app: Flask, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pinged only after sitting idle (here 50 ms, 1 s by default), not at every checkout.
    monkeypatch.setattr(store_module, "PING_AFTER_IDLE", 0.05)
    job_id = _queued_job(app)
    store = JobStore(make_engine(database_url, {"pool_size": 1, "max_overflow": 0}))
    try:
        with store.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with store_module.make_engine(database_url).connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")  # a restart, say
        time.sleep(0.1)

        assert store.claim(job_id, "w", 60) is not None
    finally:
        store.engine.dispose()
