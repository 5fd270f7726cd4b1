"""Periodic jobs: each due run is made once however many processes run, as an ordinary
job; a schedule seen for the first time starts at its next due time; a run missed while
no process ran runs once at start, not once per missed time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from flask_handoff import Handoff
from flask_handoff.errors import ConfigurationError
from flask_handoff.periodic import Schedule, Scheduler
from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import flask_command

BEAT = "tests.handoff.sample.beat"


def _every(seconds: float) -> dict[str, Any]:
    return {"beat": {"task": BEAT, "every": seconds}}


def _runs(app: Flask) -> list[Any]:
    """The beat jobs, oldest due first."""
    with app.app_context():
        jobs = sample.handoff.list_jobs(limit=1000)
    return sorted((j for j in jobs if j.task == BEAT), key=lambda j: _due(j.id))


def _due(job_id: str) -> int:
    return int(job_id.rsplit("-", 1)[1])


def test_due_times_are_whole_intervals_or_the_cron_times_in_the_zone() -> None:
    every = Schedule("e", BEAT, every=300)
    daily = Schedule("d", BEAT, cron="0 3 * * *")
    shanghai = ZoneInfo("Asia/Shanghai")
    at = datetime(2026, 12, 7, 2, 30, tzinfo=UTC).timestamp()

    assert every.last_due(at, UTC) == at  # 02:30:00 is a multiple of 300 s
    assert every.last_due(at + 299, UTC) == at
    # 03:00 in Shanghai is 19:00 UTC the day before.
    assert daily.last_due(at, shanghai) == datetime(2026, 12, 6, 19, tzinfo=UTC).timestamp()
    assert daily.last_due(at, UTC) == datetime(2026, 12, 6, 3, tzinfo=UTC).timestamp()
    # Its own minute counts: at 03:00:00 exactly, the 03:00 run is due.
    three = datetime(2026, 12, 7, 3, tzinfo=UTC).timestamp()
    assert daily.last_due(three, UTC) == three
    assert len(daily.job_id(three)) <= 32
    assert daily.job_id(three) == Schedule("d", BEAT, cron="*/5 * * * *").job_id(three)


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ({"task": BEAT, "cron": "61 * * * *"}, "is not a cron expression"),
        ({"task": BEAT, "cron": "0 3 * * *", "every": 60}, "one of them"),
        ({"task": BEAT}, "one of them"),
        ({"task": BEAT, "every": 0}, "must be positive"),
        ({"cron": "0 3 * * *"}, "must name its task"),
        ({"task": BEAT, "every": 60, "when": "now"}, "['when'] is not one of them"),
    ],
)
def test_a_wrong_schedule_is_refused_when_the_app_starts(
    schedule: dict[str, Any], says: str, tmp_path: Any
) -> None:
    app = Flask(__name__)
    app.config.update(
        HANDOFF_DATABASE_URL=f"sqlite:///{tmp_path}/jobs.sqlite3",
        HANDOFF_SCHEDULE={"beat": schedule},
        HANDOFF_AUTOSTART=False,
    )
    with pytest.raises(ConfigurationError, match=says.replace("[", r"\[")):
        Handoff(app)


def test_an_unknown_time_zone_is_refused(tmp_path: Any) -> None:
    app = Flask(__name__)
    app.config.update(
        HANDOFF_DATABASE_URL=f"sqlite:///{tmp_path}/jobs.sqlite3",
        HANDOFF_TIMEZONE="Mars/Olympus",
        HANDOFF_AUTOSTART=False,
    )
    with pytest.raises(ConfigurationError, match="is not a time zone"):
        Handoff(app)


@pytest.mark.runs_on(backend="thread")
def test_each_due_time_makes_one_run_across_processes_and_a_missed_one_runs_once(
    make_app: Any,
) -> None:
    app = make_app(HANDOFF_AUTOSTART=False, HANDOFF_SCHEDULE=_every(60))
    state = app.extensions["handoff"]
    # Two more processes' schedulers on the same table.
    others = [
        Scheduler(state, {}, state.scheduler.schedules(), UTC),
        Scheduler(state, {}, state.scheduler.schedules(), UTC),
    ]
    t0 = 6_000_030.0  # 30 s past a due time

    state.scheduler.tick(t0)  # first sight: starts at the next due time
    first_sight = len(_runs(app))
    for scheduler in (state.scheduler, *others):
        scheduler.tick(t0 + 45)  # due 6,000,060: one run, whoever looks
    after_one = [job.id for job in _runs(app)]
    for scheduler in (state.scheduler, *others):
        scheduler.tick(t0 + 50)
    restarted = Scheduler(state, {}, state.scheduler.schedules(), UTC)  # a new process
    restarted.tick(t0 + 400)  # five due times passed while none looked: one run
    after_gap = [job.id for job in _runs(app)]

    assert first_sight == 0
    assert [_due(i) for i in after_one] == [6_000_060]
    assert [_due(i) for i in after_gap] == [6_000_060, 6_000_420]
    assert all(job.state == "queued" for job in _runs(app))  # ordinary jobs, queued


@pytest.mark.runs_on(database="sqlite", backend="thread")
def test_three_processes_run_each_due_time_once_also_across_a_restart(make_app: Any) -> None:
    settings = {"HANDOFF_SCHEDULE": _every(1), "HANDOFF_POOL_SIZE": 2}
    apps = [make_app(**settings) for _ in range(3)]  # two web processes and a worker
    _wait_for_runs(apps[0], 3)
    for app in apps:
        sample.handoff.shutdown(app, timeout=5)
    stopped = time.time()
    time.sleep(2.5)  # two or three due times pass with no process running
    apps = [make_app(**settings) for _ in range(2)]
    _wait_for_runs(apps[0], 6)
    for app in apps:
        sample.handoff.shutdown(app, timeout=5)

    runs = _runs(apps[0])
    dues = [_due(job.id) for job in runs]
    before = [due for due in dues if due <= stopped]
    after = [due for due in dues if due > stopped]
    assert all(job.state == "succeeded" and job.attempts == 1 for job in runs)
    assert sorted(sample.BEATS) == sorted(job.id for job in runs)  # each ran once
    # Every due time ran while processes ran, once; the ones missed while none ran did
    # not each run on restart (the restart's first run is the latest of them, or the
    # next: test_each_due_time_makes_one_run... shows which, on a clock of its own).
    assert before == list(range(before[0], before[-1] + 1))
    assert after == list(range(after[0], after[-1] + 1))
    assert after[0] - before[-1] >= 2


@pytest.mark.runs_on(database="postgresql", backend="celery")
def test_on_celery_a_web_process_and_a_worker_run_each_due_time_once(
    make_app: Any, database_url: str, broker_url: str
) -> None:
    app = make_app(HANDOFF_SCHEDULE=_every(1))
    argv, env = flask_command(database_url, "worker", "--pool=threads", "--loglevel=WARNING")
    env["HANDOFF_TEST_BROKER_URL"] = broker_url
    env["HANDOFF_TEST_SCHEDULE"] = json.dumps(_every(1))
    worker = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_runs(app, 4)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)

    # Every run made, finished or not: one the stopped worker gave back is queued again
    # (this test's own worker runs it), and leaving it out read as a due time missed.
    runs = _runs(app)
    dues = [_due(job.id) for job in runs]
    assert all(job.state == "succeeded" and job.attempts == 1 for job in runs if job.finished)
    assert dues == list(range(dues[0], dues[0] + len(dues)))  # each once, none missed


def _wait_for_runs(app: Flask, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while sum(job.finished for job in _runs(app)) < count:
        assert time.monotonic() < deadline, f"{len(_runs(app))} runs after {timeout} s"
        time.sleep(0.1)
    for job in _runs(app):
        if not job.finished:
            wait_for_job(app, job.id, timeout=30)


def test_the_decorator_makes_a_task_and_its_schedule(tmp_path: Any) -> None:
    handoff = Handoff()

    @handoff.periodic(every=timedelta(hours=1), max_attempts=2)
    def tidy() -> None: ...

    schedule = handoff._schedules[tidy.name]
    assert handoff.tasks[tidy.name] is tidy
    assert (schedule.every, tidy.max_attempts) == (3600.0, 2)
