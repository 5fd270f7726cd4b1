"""Priorities and named queues on the thread pool: a high-priority job goes before every
lower one waiting, whoever submitted them; a queue with threads of its own runs while
the others are busy; a queue this process has no threads for waits in the store for a
worker that has (``flask handoff worker --queues``). On Celery, queues are Celery queues
(test_celery_backend)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from flask import Flask

from flask_handoff import JobArgumentError
from flask_handoff.errors import ConfigurationError
from flask_handoff.fair import FairQueue
from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import flask_command

pytestmark = pytest.mark.runs_on(backend="thread")


def _hold_the_one_thread(app: Flask, **submit: Any) -> str:
    with app.app_context():
        return sample.hold.submit(identity="gate", **submit).id


def test_the_line_takes_the_highest_priority_first_then_shares_fairly() -> None:
    line = FairQueue()
    for i in range(3):
        line.put(f"a{i}", "a")
        line.put(f"b{i}", "b")
    line.put("urgent-b", "b", priority=5)
    line.put("urgent-a", "a", priority=5)
    line.put("later", "c", priority=-1)

    served = []
    while len(served) < 9 and (taken := line.get()) is not None:
        served.append(taken[0])
        line.done(taken[1])

    # The urgent ones first (in turn across users), the low one last.
    assert sorted(served[:2]) == ["urgent-a", "urgent-b"]
    assert sorted(served[2:8]) == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert served[8] == "later"


@pytest.mark.runs_on(database="sqlite", backend="thread")
def test_a_high_priority_job_submitted_behind_100_queued_ones_runs_next(make_app: Any) -> None:
    app = make_app(HANDOFF_POOL_SIZE=1)
    holding = _hold_the_one_thread(app)
    with app.app_context():
        queued = [sample.record_turn.submit(identity=f"user{i % 5}").id for i in range(100)]
        urgent = sample.record_turn.submit(identity="urgent", priority=10).id
    sample.GATE.set()
    for job_id in [holding, urgent, *queued]:
        wait_for_job(app, job_id, timeout=60)

    assert sample.TURNS[0] == "urgent"
    assert len(sample.TURNS) == 101


def test_a_high_priority_job_from_the_store_runs_before_older_ones(make_app: Any) -> None:
    """Jobs another process submitted reach the pool from the store: by priority too."""
    web = make_app(HANDOFF_AUTOSTART=False)  # submits only, as a web process of many
    with web.app_context():
        queued = [sample.record_turn.submit(identity="bulk").id for _ in range(20)]
        urgent = sample.record_turn.submit(identity="urgent", priority=1).id
    worker = make_app(HANDOFF_POOL_SIZE=1)
    for job_id in [urgent, *queued]:
        wait_for_job(worker, job_id, timeout=60)

    assert sample.TURNS[0] == "urgent"


def test_a_worker_takes_another_processes_jobs_one_after_another_not_a_few_per_poll(
    make_app: Any,
) -> None:
    # A thread that finished took its next job from the store only at the ticker's next
    # poll: a worker process ran the web processes' jobs a pool's size per second.
    web = make_app(HANDOFF_AUTOSTART=False)
    with web.app_context():
        ids = [sample.whoami.submit(identity="alice").id for _ in range(40)]
    worker = make_app(HANDOFF_POOL_SIZE=2, HANDOFF_POLL_INTERVAL=60)

    # Before the fix: two jobs, then nothing for the next minute.
    jobs = [wait_for_job(worker, job_id, timeout=30) for job_id in ids]

    assert {job.state for job in jobs} == {"succeeded"}


@pytest.mark.runs_on(database="sqlite", backend="thread")
def test_a_queue_with_threads_of_its_own_runs_while_the_others_are_busy(make_app: Any) -> None:
    app = make_app(HANDOFF_QUEUES={"*": 1, "mail": 1})
    holding = _hold_the_one_thread(app)
    with app.app_context():
        waiting = sample.process_order.submit(1).id  # behind the held one
        mail = sample.process_order.submit(2, queue="mail").id

    sent = wait_for_job(app, mail, timeout=30)
    with app.app_context():
        behind = sample.handoff.get_job(waiting)
    sample.GATE.set()
    wait_for_job(app, holding, timeout=30)

    assert sent.state == "succeeded"
    assert behind.state == "queued"  # the "*" line's one thread is still held
    assert wait_for_job(app, waiting, timeout=30).state == "succeeded"


def test_a_queue_without_threads_here_waits_for_a_worker_that_runs_it(
    make_app: Any, database_url: str
) -> None:
    app = make_app(HANDOFF_QUEUES={"mail": 1})
    with app.app_context():
        report = sample.process_order.submit(3, queue="reports").id
        mail = sample.process_order.submit(4, queue="mail").id
    wait_for_job(app, mail, timeout=30)
    with app.app_context():
        assert sample.handoff.get_job(report).state == "queued"

    argv, env = flask_command(database_url, "worker", "--queues", "reports")
    worker = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
    try:
        done = wait_for_job(app, report, timeout=60)
    finally:
        worker.terminate()
        worker.wait(30)

    assert done.state == "succeeded"
    assert done.worker_id != app.extensions["handoff"].backend.worker_id
    assert (done.queue, done.priority) == ("reports", 0)


@pytest.mark.runs_on(database="sqlite", backend="thread")
@pytest.mark.parametrize(
    ("placement", "says"),
    [
        ({"queue": "no spaces"}, "queue 'no spaces' must be"),
        ({"queue": ""}, "queue '' must be"),
        ({"priority": 101}, "priority 101 must be a whole number from -100 to 100"),
        ({"priority": 1.5}, "priority 1.5 must be"),
        ({"priority": True}, "priority True must be"),
    ],
)
def test_a_wrong_queue_or_priority_is_refused_at_submit(
    make_app: Any, placement: dict[str, Any], says: str
) -> None:
    app = make_app()
    with app.app_context(), pytest.raises(JobArgumentError, match=says):
        sample.process_order.submit(1, **placement)


@pytest.mark.runs_on(database="sqlite", backend="thread")
@pytest.mark.parametrize("queues", [{}, {"mail": 0}, ["mail"], {"mail": "2"}])
def test_wrong_queue_threads_are_a_configuration_error(make_app: Any, queues: Any) -> None:
    with pytest.raises(ConfigurationError, match="HANDOFF_QUEUES must map queue names"):
        make_app(HANDOFF_QUEUES=queues)
