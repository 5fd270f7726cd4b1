"""The database away while a job runs is weather: the job goes on, its progress and its
outcome are written once the database is back, and it ends on its first attempt. The
outage is real: the app reaches PostgreSQL through a relay that drops every connection
and refuses new ones (tests/outage.py), as a restarting server does."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from flask_handoff import store as store_module
from flask_handoff.prepared import run as prepared_run
from flask_handoff.testing import wait_for_job
from tests.outage import Relay

from . import sample
from .conftest import bearer

# PostgreSQL's outage, on the thread pool; Celery's workers share this runner.
pytestmark = [pytest.mark.runs_on(database="postgresql", backend="thread"), pytest.mark.slow]


@pytest.fixture
def relayed(make_app: Any) -> Iterator[tuple[Flask, Relay]]:
    url = os.environ.get("HANDOFF_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("needs PostgreSQL")
    relay, through = Relay.to_url(url)
    app = make_app(HANDOFF_DATABASE_URL=through, HANDOFF_POLL_INTERVAL=0.2)
    yield app, relay
    relay.close()


def _submit(app: Flask, seconds: float) -> str:
    with app.test_request_context(headers=bearer("alice")):
        return str(sample.steady.submit(seconds).id)


def _running(app: Flask, job_id: str) -> None:
    deadline = time.monotonic() + 10
    with app.app_context():
        while sample.handoff.get_job(job_id).state != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_job_runs_through_an_outage_and_ends_on_its_first_attempt(
    relayed: tuple[Flask, Relay], caplog: pytest.LogCaptureFixture
) -> None:
    app, relay = relayed
    job_id = _submit(app, 3.0)
    _running(app, job_id)
    time.sleep(0.5)

    with caplog.at_level(logging.WARNING, logger="flask_handoff"):
        relay.cut()  # while the job works and reports progress
        time.sleep(2.0)
        relay.restore()
        job = wait_for_job(app, job_id, timeout=30)

    assert job.state == "succeeded"
    assert job.attempts == 1
    assert job.result == 1  # the attempt the task itself saw
    assert job.progress_done == job.progress_total == 30
    lines = [r.getMessage() for r in caplog.records]
    assert sum("progress not written" in line for line in lines) == 1  # once, not per step
    assert not [r for r in caplog.records if r.exc_info]  # no traceback for weather


def test_a_job_that_ends_during_the_outage_writes_its_outcome_once_it_is_back(
    relayed: tuple[Flask, Relay], caplog: pytest.LogCaptureFixture
) -> None:
    app, relay = relayed
    job_id = _submit(app, 1.0)
    _running(app, job_id)

    with caplog.at_level(logging.WARNING, logger="flask_handoff"):
        relay.cut()  # the job ends while the database is away
        time.sleep(2.5)
        relay.restore()
        job = wait_for_job(app, job_id, timeout=30)

    assert job.state == "succeeded"
    assert job.attempts == 1
    lines = [r.getMessage() for r in caplog.records]
    assert any("its outcome: the database is away" in line for line in lines)
    assert any("its outcome: the database is back" in line for line in lines)


@pytest.mark.runs_on(database="postgresql", backend=("thread", "celery"))
def test_a_claim_whose_answer_was_lost_still_runs_its_job(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim's UPDATE was made, then the connection broke before its answer came
    back (seen in a full run, through the relay). The job was this worker's and running,
    yet nobody ran it, and the process renewed its lease: it stayed running for good.
    The worker now reads the row to learn whose claim it was. Which statement loses its
    answer is chosen here; the relay cannot aim at one."""
    store = app.extensions["handoff"].store
    claim = store._statements.claim
    lost: list[str] = []

    def run_losing_a_claims_answer(*args: Any) -> tuple[int, list[Any]]:
        answer = prepared_run(*args)
        if args[1] is claim and not lost:
            lost.append(args[2]["p_id"])
            raise store.engine.dialect.dbapi.OperationalError("server closed the connection")
        return answer

    monkeypatch.setattr(store_module, "run", run_losing_a_claims_answer)
    job_id = _submit(app, 0.1)
    job = wait_for_job(app, job_id, timeout=20)

    assert lost == [job_id]
    assert (job.state, job.attempts) == ("succeeded", 1)


@pytest.mark.runs_on(backend="thread")
def test_a_job_claimed_but_not_run_by_a_live_process_is_queued_again_at_its_lease(
    make_app: Any,
) -> None:
    """A process renews the leases of the jobs it runs, not of every running row that
    bears its name: one whose run ended without its outcome written (the database away
    past the lease) runs out, is queued again and runs, while another job of the same
    process keeps it renewing. Before, that process kept the orphan running for good."""
    app = make_app(HANDOFF_LEASE_SECONDS=1.0, HANDOFF_POLL_INTERVAL=0.1)
    backend = app.extensions["handoff"].backend
    store = app.extensions["handoff"].store
    busy = _submit(app, 8.0)  # keeps this process's heartbeat going
    wait_for_job(app, busy, state="running")
    with app.test_request_context(headers=bearer("alice")):
        orphan = str(sample.process_order.submit(7, delay=60).id)
    assert store.claim(orphan, backend.worker_id, 1.0, early=True) is not None

    job = wait_for_job(app, orphan, timeout=6)

    assert (job.state, job.attempts) == ("succeeded", 2)
    assert store.get(busy).state == "running"  # it ran again while the other still ran
