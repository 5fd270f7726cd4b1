"""Retries, timeouts, cancellation, progress and shutdown, on each backend."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_handoff.schema import jobs_table
from flask_handoff.store import make_engine
from flask_handoff.testing import wait_for_job

from . import sample


def _submit(app: Flask, task: Any, *args: Any, **kwargs: Any) -> str:
    with app.app_context():
        return str(task.submit(*args, identity="alice", **kwargs).id)


def test_failed_attempts_are_retried_with_backoff_until_success(app: Flask) -> None:
    job = wait_for_job(app, _submit(app, sample.flaky, "a", 2))

    assert job.state == "succeeded"
    assert job.result == 3
    assert job.attempts == 3
    assert job.error_type is None


def test_a_job_failing_every_attempt_ends_failed_with_the_last_error(app: Flask) -> None:
    job = wait_for_job(app, _submit(app, sample.flaky, "b", 10))

    assert job.state == "failed"
    assert job.attempts == 3
    assert job.error_type == "ConnectionError"
    assert job.error_message == "upstream down (try 3)"
    assert "ConnectionError" in (job.error_traceback or "")


def test_retries_wait_longer_each_time(make_app: Any) -> None:
    app = make_app(HANDOFF_RETRY_BACKOFF=0.2)
    started = time.monotonic()
    job = wait_for_job(app, _submit(app, sample.flaky, "c", 2))

    assert job.state == "succeeded"
    assert time.monotonic() - started >= 0.2 + 0.4  # 0.2 s, then 0.4 s


def test_cooperative_task_stops_at_its_timeout(app: Flask) -> None:
    job = wait_for_job(app, _submit(app, sample.slow_cooperative, 100))

    assert job.state == "failed"
    assert job.error_type == "JobTimeoutError"
    assert "0.3 s" in (job.error_message or "")


# Celery stops such a task with its hard time limit, in a prefork worker: test_celery_backend.
@pytest.mark.parametrize("backend_name", ["thread"])
def test_task_ignoring_its_timeout_is_stopped_after_the_grace_period(app: Flask) -> None:
    started = time.monotonic()
    job = wait_for_job(app, _submit(app, sample.slow_stubborn), timeout=10)

    assert job.state == "failed"
    assert job.error_type == "JobTimeoutError"
    assert time.monotonic() - started < 5  # the task alone would run 30 s
    # the worker thread is free again
    assert wait_for_job(app, _submit(app, sample.process_order, 1)).state == "succeeded"


@pytest.mark.parametrize("backend_name", ["thread"])
def test_a_task_that_swallows_the_forced_stop_is_stopped_again(app: Flask) -> None:
    started = time.monotonic()
    job = wait_for_job(app, _submit(app, sample.swallows_the_first_stop), timeout=10)

    assert job.state == "failed"
    assert job.error_type == "JobTimeoutError"
    assert time.monotonic() - started < 5  # the task alone would run 30 s


@pytest.mark.parametrize("backend_name", ["thread"])
def test_a_forced_stop_waits_for_the_store_write_under_way(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    marker = str(tmp_path / "submits")
    job_id = _submit(app, sample.stubborn_then_submits, marker, "child-of-a-stubborn-task")
    _wait_for_file(Path(marker + ".started"))
    with _job_table_locked(database_url):
        Path(marker + ".go").touch()  # the task's hand-off now waits for the lock...
        time.sleep(1.5)  # ...while its timeout (0.3 s) and grace (0.3 s) run out
    job = wait_for_job(app, job_id, timeout=10)

    assert job.state == "failed"
    assert job.error_type == "JobTimeoutError"
    # The stop came after the write, not in the middle of it: the child job is there.
    assert wait_for_job(app, "child-of-a-stubborn-task").state == "succeeded"


def _wait_for_file(path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


@contextlib.contextmanager
def _job_table_locked(database_url: str) -> Iterator[None]:
    """Another client holds the write lock on the job table (reads go on)."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"LOCK TABLE {jobs_table.name} IN EXCLUSIVE MODE")
            yield
    finally:
        engine.dispose()


def test_cancelling_a_queued_job_cancels_it_at_once(app: Flask) -> None:
    with app.app_context():
        job = sample.whoami.submit(identity="alice", delay=60)
        cancelled = sample.handoff.cancel(job.id)

    assert cancelled.state == "cancelled"


def test_cancelling_a_running_job_stops_it_at_its_next_checkpoint(
    app: Flask, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    job_id = _submit(app, sample.wait_for_cancel, str(marker))
    wait_for_job(app, job_id, state="running")
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    with app.app_context():
        assert sample.handoff.cancel(job_id).cancel_requested

    job = wait_for_job(app, job_id)
    assert job.state == "cancelled"
    assert job.error_type == "JobCancelled"


def test_progress_is_visible_while_running_and_final_at_the_end(app: Flask) -> None:
    job = wait_for_job(app, _submit(app, sample.count_progress, 50_000))

    assert job.state == "succeeded"
    assert (job.progress_done, job.progress_total, job.progress_message) == (
        50_000,
        50_000,
        "counting",
    )


def test_progress_writes_are_throttled(app: Flask) -> None:
    writes: list[int] = []
    store = app.extensions["handoff"].store
    original = store.progress

    def counting(*args: Any) -> None:
        writes.append(args[2])
        original(*args)

    store.progress = counting
    wait_for_job(app, _submit(app, sample.count_progress, 50_000))

    assert 1 <= len(writes) < 100  # not 50,000 writes
    assert writes[-1] == 50_000


# On Celery, running tasks belong to the Celery worker, whose warm shutdown hands back
# the messages of those it cannot finish.
@pytest.mark.parametrize("backend_name", ["thread"])
def test_shutdown_waits_for_running_jobs_then_leaves_the_rest_queued(
    app: Flask, tmp_path: Path
) -> None:
    marker = tmp_path / "m"
    slow = _submit(app, sample.sleep_then_mark, 3.0, str(marker))
    wait_for_job(app, slow, state="running")
    with app.app_context():
        later = sample.whoami.submit(identity="alice", delay=0.5).id

    sample.handoff.shutdown(app, timeout=0.2)

    store = app.extensions["handoff"].store
    slow_job, later_job = store.get(slow), store.get(later)
    assert slow_job.state == "queued"  # handed back, not lost
    assert slow_job.attempts == 0  # the interrupted try does not count
    assert later_job.state == "queued"


@pytest.mark.runs_on(backend="celery")
def test_a_job_submitted_after_shutdown_waits_in_the_store(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stopped process sends nothing more. On Celery, ``shutdown(0)`` returned while
    the sender thread was still in a round; it went on to send a job submitted after the
    stop, and a worker ran it (test_signals' worker-died test lost its job so, once in a
    full run). The round is made slow here, as a loaded machine makes it."""
    backend = app.extensions["handoff"].backend
    in_round = threading.Event()

    def slow_round() -> None:
        in_round.set()
        time.sleep(0.5)

    monkeypatch.setattr(backend._sender, "sweep_if_due", slow_round)
    assert in_round.wait(5)
    backend.shutdown(0)
    job_id = _submit(app, sample.whoami)
    time.sleep(1.5)

    assert app.extensions["handoff"].store.get(job_id).state == "queued"


def test_a_new_process_on_the_same_database_runs_jobs_left_queued(make_app: Any) -> None:
    first = make_app(HANDOFF_AUTOSTART=False)
    with first.app_context():
        job = sample.process_order.submit(5, identity="bob")
    # `first` only submits (like a web process that died right after the 202)
    time.sleep(0.3)
    assert first.extensions["handoff"].store.get(job.id).state == "queued"

    second = make_app()
    done = wait_for_job(second, job.id)
    assert done.state == "succeeded"
    assert done.result == {"order_id": 5, "user": "bob"}


def test_job_failed_ends_the_job_at_once_with_its_message(app: Flask) -> None:
    job = wait_for_job(app, _submit(app, sample.reject_input))

    assert job.state == "failed"
    assert job.attempts == 1
    assert job.error_message == "The file has no phone column."
