"""Prometheus metrics: what the table holds (jobs per task and state, how long each
queue's oldest due job has waited, whether the parts are up) and what the process that
ran the jobs counted (durations, waits, ends, retries), read by Prometheus' own parser."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from flask_handoff.errors import ConfigurationError
from flask_handoff.metrics import init_metrics, metrics_view
from flask_handoff.testing import wait_for_job
from tests.conftest import free_port

from . import sample
from .conftest import flask_command

# Counting happens in the runner, the same on both backends; the table's part is SQL.
pytestmark = pytest.mark.runs_on(backend="thread")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _scrape(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return _samples(response.get_data(as_text=True))


def test_the_jobs_run_here_and_the_table_are_counted(make_app: Any) -> None:
    app = make_app(HANDOFF_QUEUES={"default": 2})  # the reports queue waits here
    init_metrics(app)
    app.add_url_rule("/metrics", view_func=metrics_view)
    with app.app_context():
        ok = sample.process_order.submit(1).id
        retried = sample.fail_until.submit(2).id  # one failed attempt, then success
        waiting = sample.process_order.submit(2, queue="reports").id  # no thread runs it
    for job_id in (ok, retried):
        wait_for_job(app, job_id, timeout=30)
    time.sleep(0.2)  # the reports job has waited a while

    got = _scrape(app)
    order, until = "tests.handoff.sample.process_order", "tests.handoff.sample.fail_until"

    assert got[("handoff_jobs", (("state", "succeeded"), ("task", order)))] == 1
    assert got[("handoff_jobs", (("state", "queued"), ("task", order)))] == 1
    assert got[("handoff_jobs_ended_total", (("state", "succeeded"), ("task", until)))] == 1
    assert got[("handoff_job_retries_total", (("task", until),))] == 1
    assert got[("handoff_job_duration_seconds_count", (("task", until),))] == 1
    assert got[("handoff_job_queue_wait_seconds_count", (("task", until),))] == 2  # attempts
    assert got[("handoff_oldest_queued_seconds", (("queue", "reports"),))] >= 0.2
    assert got[("handoff_up", (("part", "database"),))] == 1
    assert got[("handoff_up", (("part", "workers"),))] == 1
    assert waiting


def test_a_worker_serves_its_own_metrics(make_app: Any, database_url: str) -> None:
    web = make_app(HANDOFF_AUTOSTART=False)  # submits only
    port = free_port()
    argv, env = flask_command(database_url, "worker", "--metrics-port", str(port))
    worker = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
    try:
        with web.app_context():
            job_id = sample.process_order.submit(3).id
        wait_for_job(web, job_id, timeout=60)
        # The worker counts a job once its outcome is written, so the row can say
        # succeeded a moment before the counter does: wait on the counter itself.
        task = "tests.handoff.sample.process_order"
        ended = ("handoff_jobs_ended_total", (("state", "succeeded"), ("task", task)))
        deadline = time.monotonic() + 10
        while True:
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                got = _samples(response.read().decode())
            if ended in got or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(30)

    assert got.get(ended) == 1


def test_metrics_before_the_extension_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match=r"handoff.init_app\(app\) before"):
        init_metrics(Flask(__name__))
