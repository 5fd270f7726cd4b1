"""Event streams follow their jobs through one watch per process: many open streams cost
one read of the job table per interval, hold no connection while they wait, and wake when
their job (or a job it submitted) changes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from flask_handoff import Job
from flask_handoff.current import current_state
from flask_handoff.store import JobStore
from flask_handoff.testing import wait_for_job
from flask_handoff.watch import Following

from . import sample
from .conftest import bearer

# What a follower sees is read from the store: the same whichever backend runs the jobs.
pytestmark = pytest.mark.runs_on(backend="thread")


def _queued_job(app: Flask) -> str:
    with app.test_request_context(headers=bearer("alice")):
        # Run in an hour: it stays queued, as a job behind others does.
        return str(sample.process_order.submit(1, delay=3600).id)


def _statements(app: Flask) -> list[str]:
    seen: list[str] = []
    with app.app_context():
        engine = current_state().store.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    return seen


def test_two_hundred_followers_cost_one_read_per_interval(make_app: Any) -> None:
    app = make_app(HANDOFF_EVENTS_INTERVAL=0.05)
    job_id = _queued_job(app)
    statements = _statements(app)
    wakes: list[int] = []
    ready = threading.Barrier(201)

    def follower() -> None:
        with app.app_context(), current_state().watch.follow(job_id) as following:
            ready.wait()
            woke, end = 0, time.monotonic() + 1.0
            while (left := end - time.monotonic()) > 0:
                woke += following.wait(left)
            wakes.append(woke)

    threads = [threading.Thread(target=follower) for _ in range(200)]
    for t in threads:
        t.start()
    ready.wait()
    started, before = time.monotonic(), len(statements)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # The watch's reads while all 200 followed (the pool beside it reads the table for
    # its own work, and the loop began with the first follower, before the others).
    reads = [s for s in statements[before:] if "progress_message" in s and " IN (" in s]

    # The queued job never changed: a follower woke at most once (the first look, which
    # may find what the follower's own first read missed), and the job table was read
    # twice per interval (the job, the jobs it submitted), not once per follower.
    assert len(wakes) == 200
    assert max(wakes) <= 1
    assert 0 < len(reads) <= 2 * (elapsed / 0.05 + 4)  # 200 streams on their own: 4,000


def test_a_follower_wakes_when_its_job_or_its_child_changes(app: Flask, tmp_path: Path) -> None:
    marker = str(tmp_path / "job")
    with app.test_request_context(headers=bearer("alice")):
        job_id = str(sample.progresses_until_told.submit(marker).id)
        state = current_state()
        with state.watch.follow(job_id) as following:
            # Woken while the job runs (its progress moves) ...
            running = _woken_until(following, lambda job: job.progress_done, state.store)
            Path(marker + ".go").touch()
            # ... and again when it ends.
            ended = _woken_until(following, lambda job: job.finished, state.store)

    assert running.state == "running"
    assert ended.state == "succeeded"


def _woken_until(following: Following, seen: Callable[[Job], object], store: JobStore) -> Job:
    """The job, once a wake-up of ``following`` finds ``seen(job)`` true (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline, "the follower was not woken"
        if following.wait(0.5):
            job = store.get(following.job_id)
            if job is not None and seen(job):
                return job


def test_a_child_job_wakes_its_parents_followers(app: Flask) -> None:
    with app.test_request_context(headers=bearer("alice")):
        parent = sample.spawn_child.submit()
    wait_for_job(app, parent.id)
    with app.app_context():
        state = current_state()
        child_id = state.store.get(parent.id).result  # type: ignore[union-attr]
        before = state.store.fingerprints([parent.id])
        wait_for_job(app, child_id)
        after = state.store.fingerprints([parent.id])

    assert len(before[parent.id]) == 2  # the job, and the job it submitted
    assert after[parent.id][1][1] == "succeeded"  # (child id, state, ...)


def test_streams_over_the_bound_are_told_to_ask_instead(make_app: Any) -> None:
    app = make_app(HANDOFF_EVENTS_MAX_STREAMS=1)
    client = app.test_client()
    job_id = _queued_job(app)

    first = client.get(f"/jobs/{job_id}/events", headers=bearer("alice"), buffered=False)
    next(iter(first.response))  # the stream has begun: it follows the job
    second = client.get(f"/jobs/{job_id}/events", headers=bearer("alice"))
    first.close()
    third = client.get(f"/jobs/{job_id}/events", headers=bearer("alice"), buffered=False)
    began = next(iter(third.response))
    third.close()

    assert second.status_code == 503
    assert second.headers["Retry-After"] == "10"
    assert second.get_json()["error"] == "too_many_streams"
    assert f"/jobs/{job_id}" in second.get_json()["message"]
    assert b"progress" in began
