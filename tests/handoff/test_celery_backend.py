"""The Celery backend against a real Redis and real Celery worker processes
(``flask handoff worker``, prefork): the same jobs, the same guarantees as on threads."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_handoff.backends.celery.publisher import message_id
from flask_handoff.testing import wait_for_job
from tests.conftest import descendants, redis_db, require_env

from . import sample
from .conftest import bearer, flask_command

pytestmark = pytest.mark.slow

LEASE = 2.0  # short, so a killed worker's job comes back within the test


@pytest.fixture(scope="module")
def broker() -> str:
    """A Redis database of this module's own, emptied first."""
    import redis

    url = redis_db(require_env("HANDOFF_TEST_REDIS_URL", "Redis"), 5)
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="module")
def jobs_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('celery')}/jobs.sqlite3"


def start_worker(database_url: str, broker_url: str, *args: str) -> subprocess.Popen[bytes]:
    argv, env = flask_command(database_url, "worker", "--loglevel=WARNING", *args, lease=LEASE)
    env["HANDOFF_TEST_BROKER_URL"] = broker_url
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, start_new_session=True)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def worker(jobs_db: str, broker: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_worker(jobs_db, broker, "--concurrency=2")
    yield proc
    stop_worker(proc)


@pytest.fixture
def web(jobs_db: str, broker: str, worker: Any, tmp_path: Path) -> Iterator[Flask]:
    """The submitting side: a web app on the Celery backend, sharing the worker's store."""
    app = sample.create_app(
        {
            "HANDOFF_DATABASE_URL": jobs_db,
            "HANDOFF_BACKEND": "celery",
            "HANDOFF_CELERY_BROKER_URL": broker,
            "HANDOFF_SPOOL_DIR": str(tmp_path / "spool"),
            "HANDOFF_LEASE_SECONDS": LEASE,
        }
    )
    yield app
    sample.handoff.shutdown(app, timeout=5)


def test_a_job_submitted_in_a_request_runs_on_a_celery_worker_as_its_submitter(
    web: Flask,
) -> None:
    client = web.test_client()
    headers = {**bearer("alice"), "X-Request-Id": "req-7", "X-Tenant": "acme"}
    order = client.post("/orders/7", headers=headers).get_json()["job_id"]
    who = client.post("/whoami", headers=headers).get_json()["job_id"]

    job = wait_for_job(web, order, timeout=30)
    seen = wait_for_job(web, who, timeout=30)

    assert job.state == "succeeded", job.error_message
    assert job.result == {"order_id": 7, "user": "alice"}
    assert (job.worker_id or "").startswith("celery-")
    # What the task itself saw in the worker process:
    assert seen.result["identity"] == "alice"
    assert seen.result["context"]["request_id"] == "req-7"
    assert seen.result["context"]["tenant"] == "acme"


def test_a_worker_sends_through_a_publisher_process_even_when_told_to_use_a_thread(
    jobs_db: str, broker: str, web: Flask
) -> None:
    """A thread beside the worker's event loop lost a recovered job's message (one run in
    five of the killed-worker tests below); a worker keeps a publisher process."""
    argv, env = flask_command(jobs_db, "worker", "--loglevel=WARNING", lease=LEASE)
    env["HANDOFF_TEST_BROKER_URL"] = broker
    env["HANDOFF_TEST_CONFIG"] = '{"HANDOFF_CELERY_PUBLISHER": "thread"}'
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not [c for c in _commands(proc.pid) if b"celery.publisher" in c]:
            assert time.monotonic() < deadline, "the worker started no publisher process"
            time.sleep(0.1)
    finally:
        stop_worker(proc)


def _commands(pid: int) -> list[bytes]:
    found = []
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            found.append(Path(f"/proc/{child}/cmdline").read_bytes())
    return found


def test_a_process_publishing_from_a_thread_starts_no_child_and_its_jobs_run(
    jobs_db: str, broker: str, worker: Any, tmp_path: Path
) -> None:
    app = sample.create_app(
        {
            "HANDOFF_DATABASE_URL": jobs_db,
            "HANDOFF_BACKEND": "celery",
            "HANDOFF_CELERY_BROKER_URL": broker,
            "HANDOFF_CELERY_PUBLISHER": "thread",
            "HANDOFF_SPOOL_DIR": str(tmp_path / "spool"),
        }
    )
    try:
        before = descendants(os.getpid())
        client = app.test_client()
        ids = [
            client.post(f"/orders/{n}", headers=bearer("bob")).get_json()["job_id"]
            for n in range(3)
        ]

        jobs = [wait_for_job(app, job_id, timeout=30) for job_id in ids]

        assert [job.state for job in jobs] == ["succeeded"] * 3
        assert [job.result["user"] for job in jobs] == ["bob"] * 3
        assert descendants(os.getpid()) == before  # no publisher process was started
        health = app.extensions["handoff"].backend.health()
        assert health == {"broker": "ok", "publisher": "ok (thread)"}
    finally:
        sample.handoff.shutdown(app, timeout=5)


def test_a_task_reading_the_request_fails_the_same_way_as_on_threads(web: Flask) -> None:
    response = web.test_client().post("/legacy/1", headers=bearer("alice"))
    job = wait_for_job(web, response.get_json()["job_id"], timeout=30)

    assert job.state == "failed"
    assert job.error_type == "JobContextError"
    assert job.attempts == 1  # not retried: it would fail the same way


def test_failed_attempts_are_retried_with_backoff_across_worker_processes(web: Flask) -> None:
    with web.app_context():
        job_id = sample.fail_until.submit(3).id
    job = wait_for_job(web, job_id, timeout=30)

    assert (job.state, job.result, job.attempts) == ("succeeded", 3, 3)


def test_a_named_queue_is_a_celery_queue_taken_only_by_its_workers(
    web: Flask, jobs_db: str, broker: str
) -> None:
    import redis

    with web.app_context():
        report = sample.process_order.submit(5, queue="reports").id
        ordinary = sample.process_order.submit(6).id
    wait_for_job(web, ordinary, timeout=30)  # the module's worker takes the default queue
    with web.app_context():
        waiting = sample.handoff.get_job(report)
    in_redis = redis.Redis.from_url(broker).llen("reports")
    reports_worker = start_worker(jobs_db, broker, "--queues=reports", "--pool=threads")
    try:
        done = wait_for_job(web, report, timeout=60)
    finally:
        stop_worker(reports_worker)

    assert waiting.state == "queued"  # not taken by a worker of the default queue
    # Its message waited in the Celery queue of that name. Two are allowed: when the
    # submitter's publisher falls more than SETTLE_SECONDS behind (a loaded CI machine),
    # another process's sweep sends it too, and the claim runs it once all the same.
    assert in_redis >= 1
    assert (done.state, done.attempts) == ("succeeded", 1)
    assert (done.queue, done.result) == ("reports", {"order_id": 5, "user": "system"})


def test_a_job_committed_but_never_published_is_found_and_published(
    web: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = web.extensions["handoff"].backend
    # As if the process died between the commit and the publish.
    monkeypatch.setattr(backend, "dispatch", lambda *args, **kwargs: None)
    with web.app_context():
        job_id = sample.process_order.submit(11, identity="bob").id

    job = wait_for_job(web, job_id, timeout=30)  # the worker's sweep sends it

    assert (job.state, job.result) == ("succeeded", {"order_id": 11, "user": "bob"})


def test_a_worker_process_killed_mid_job_gives_the_job_back_and_it_completes(
    web: Flask, tmp_path: Path
) -> None:
    marker = tmp_path / "running"
    with web.app_context():
        job_id = sample.sleep_then_mark.submit(3.0, str(marker)).id
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # the prefork child running it
    marker.unlink()

    job = wait_for_job(web, job_id, timeout=60)

    assert (job.state, job.result, job.attempts) == ("succeeded", "done", 2)


def test_a_job_that_kills_its_worker_every_time_ends_failed_with_the_reason(web: Flask) -> None:
    with web.app_context():
        job_id = sample.die_hard.submit().id
    job = wait_for_job(web, job_id, timeout=60)

    assert job.state == "failed"
    assert job.error_type == "WorkerLost"
    assert "on each of 2 attempts" in (job.error_message or "")


def test_a_running_job_is_cancelled_through_the_store(web: Flask, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    with web.app_context():
        job_id = sample.wait_for_cancel.submit(str(marker)).id
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)

    with web.app_context():
        sample.handoff.cancel(job_id)
    job = wait_for_job(web, job_id, timeout=30)

    assert job.state == "cancelled"


def _until(found: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := found()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return value


def test_cancelling_a_delayed_job_revokes_its_message_and_a_retry_still_runs(
    web: Flask,
) -> None:
    inspect = web.extensions["celery"].control.inspect(timeout=1)
    with web.app_context():
        job = sample.whoami.submit(identity="alice", delay=60)
    message = message_id(job.id, job.run_after)

    def held() -> bool:  # a worker keeps a delayed message in memory until it is due
        scheduled = (inspect.scheduled() or {}).values()
        return any(entry["request"]["id"] == message for entries in scheduled for entry in entries)

    _until(held, "the worker never received the delayed message")
    with web.app_context():
        sample.handoff.cancel(job.id)

    revoked = _until(
        lambda: [w for w, ids in (inspect.revoked() or {}).items() if message in ids],
        "the message was never revoked",
    )
    assert revoked
    assert web.extensions["handoff"].store.get(job.id).state == "cancelled"
    # A manual retry is a new message, which the revoke does not drop.
    with web.app_context():
        sample.handoff.retry(job.id)
    assert wait_for_job(web, job.id, timeout=30).state == "succeeded"


def test_timeouts_stop_a_task_that_checks_and_kill_one_that_does_not(web: Flask) -> None:
    with web.app_context():
        polite = sample.slow_cooperative.submit(100).id
        stubborn = sample.slow_stubborn.submit().id

    assert wait_for_job(web, polite, timeout=30).error_type == "JobTimeoutError"
    job = wait_for_job(web, stubborn, timeout=60)
    assert job.state == "failed"  # never left running: the hard limit killed its process


def test_a_soft_time_limit_after_the_tasks_code_does_not_cut_the_writing_of_its_outcome(
    web: Flask, jobs_db: str, tmp_path: Path
) -> None:
    """Celery's soft limit is a SIGUSR1 to the pool process. When it came as the task had
    just stopped itself at its timeout, it cut the write of the job's failure, and the
    job ended as WorkerLost (failed so in a CI run). Here the signal is sent while the
    outcome's write waits for the database's write lock."""
    marker = str(tmp_path / "job")
    with web.app_context():
        job_id = sample.returns_when_told.submit(marker).id
    pid = int(_until(lambda: _read(Path(marker + ".started")), "the task started"))
    database = sqlite3.connect(jobs_db.removeprefix("sqlite:///"), isolation_level=None)
    try:
        database.execute("BEGIN IMMEDIATE")  # the outcome's write waits for this
        Path(marker + ".go").touch()
        time.sleep(0.5)
        os.kill(pid, signal.SIGUSR1)  # what billiard sends at a task's soft time limit
        time.sleep(0.3)
    finally:
        database.rollback()
        database.close()

    job = wait_for_job(web, job_id, timeout=30)
    assert (job.state, job.result, job.attempts) == ("succeeded", "done", 1)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_jobs_submitted_while_the_broker_is_down_all_run_once_it_is_back(
    tmp_path: Path, jobs_db: str
) -> None:
    from tests.conftest import free_port

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    app = sample.create_app(
        {
            "HANDOFF_DATABASE_URL": f"sqlite:///{tmp_path}/down.sqlite3",
            "HANDOFF_BACKEND": "celery",
            "HANDOFF_CELERY_BROKER_URL": url,
            "HANDOFF_SPOOL_DIR": str(tmp_path / "spool"),
        }
    )
    database = app.config["HANDOFF_DATABASE_URL"]
    try:
        with app.app_context():  # no broker listens: each submit still returns at once
            ids = [sample.process_order.submit(i, identity="carol").id for i in range(100)]
            assert {sample.handoff.get_job(i).state for i in ids} == {"queued"}

        server = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        proc = start_worker(database, url, "--concurrency=2")
        try:
            jobs = [wait_for_job(app, i, timeout=90) for i in ids]
        finally:
            stop_worker(proc)
            server.terminate()
            server.wait()
    finally:
        sample.handoff.shutdown(app, timeout=5)

    assert {j.state for j in jobs} == {"succeeded"}
    assert sorted(j.result["order_id"] for j in jobs) == list(range(100))
    assert {j.attempts for j in jobs} == {1}  # each ran once


def test_identity_and_request_facts_arrive_intact_for_1000_concurrent_submissions(
    web: Flask,
) -> None:
    """Two members, 500 submissions each, at once over real HTTP: every job, run on a
    Celery worker, sees its own submitter and request id."""
    import json
    import threading
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, web, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/whoami"

    def submit(i: int) -> tuple[str, str, str]:
        user = "alice" if i % 2 else "bob"
        request_id = f"req-{i}"
        req = urllib.request.Request(
            url, method="POST", headers={**bearer(user), "X-Request-Id": request_id}
        )
        with urllib.request.urlopen(req, timeout=60) as response:
            return json.loads(response.read())["job_id"], user, request_id

    try:
        with ThreadPoolExecutor(50) as pool:
            submitted = list(pool.map(submit, range(1000)))
    finally:
        server.shutdown()
        thread.join()

    mismatches = []
    for job_id, user, request_id in submitted:
        job = wait_for_job(web, job_id, timeout=120)
        seen = job.result or {}
        if (job.state, seen.get("identity"), seen.get("context", {}).get("request_id")) != (
            "succeeded",
            user,
            request_id,
        ):
            mismatches.append((job_id, user, request_id, job.state, seen))
    assert mismatches == []


def test_jobs_whose_messages_a_restarted_redis_lost_are_sent_again(tmp_path: Path) -> None:
    from tests.conftest import free_port

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis_argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    server = subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL)
    app = sample.create_app(
        {
            "HANDOFF_DATABASE_URL": f"sqlite:///{tmp_path}/restart.sqlite3",
            "HANDOFF_BACKEND": "celery",
            "HANDOFF_CELERY_BROKER_URL": url,
            "HANDOFF_CELERY_RESEND_AFTER": 3.0,
            "HANDOFF_SPOOL_DIR": str(tmp_path / "spool"),
        }
    )
    store = app.extensions["handoff"].store
    try:
        with app.app_context():
            ids = [sample.process_order.submit(i, identity="dave").id for i in range(20)]
        deadline = time.monotonic() + 30
        while store.unpublished(time.time() + 60):  # until every message is in Redis
            assert time.monotonic() < deadline, "the jobs were never sent"
            time.sleep(0.1)
        server.terminate()  # Redis restarts without persistence: the messages are gone
        server.wait()
        server = subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL)
        proc = start_worker(app.config["HANDOFF_DATABASE_URL"], url, "--concurrency=2")
        try:
            jobs = [wait_for_job(app, i, timeout=90) for i in ids]
        finally:
            stop_worker(proc)
    finally:
        sample.handoff.shutdown(app, timeout=5)
        server.terminate()
        server.wait()

    assert {j.state for j in jobs} == {"succeeded"}
    assert {j.attempts for j in jobs} == {1}


def test_a_worker_started_the_celery_way_runs_the_jobs(tmp_path: Path) -> None:
    """``celery --app make_celery worker``, with the module the README shows, as the only
    worker of its own broker and database."""
    from tests.conftest import free_port

    from .conftest import ROOT

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    database = f"sqlite:///{tmp_path}/own-way.sqlite3"
    (tmp_path / "make_celery.py").write_text(
        "from tests.handoff.sample import create_app\n\n"
        "flask_app = create_app()\n"
        'celery_app = flask_app.extensions["celery"]\n'
    )
    env = {
        **os.environ,
        "HANDOFF_TEST_DATABASE_URL": database,
        "HANDOFF_TEST_BROKER_URL": url,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
    }
    celery = Path(sys.executable).parent / "celery"
    app = sample.create_app(
        {
            "HANDOFF_DATABASE_URL": database,
            "HANDOFF_BACKEND": "celery",
            "HANDOFF_CELERY_BROKER_URL": url,
            "HANDOFF_SPOOL_DIR": str(tmp_path / "spool"),
        }
    )
    proc = subprocess.Popen(
        [str(celery), "--app", "make_celery", "worker", "--loglevel=WARNING", "-c", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with app.app_context():
            job_id = sample.process_order.submit(21, identity="erin").id
        done = wait_for_job(app, job_id, timeout=60)
        workers = descendants(proc.pid) | {proc.pid}
    finally:
        stop_worker(proc)
        sample.handoff.shutdown(app, timeout=5)
        server.terminate()
        server.wait()

    assert (done.state, done.result) == ("succeeded", {"order_id": 21, "user": "erin"})
    assert int((done.worker_id or "-0").rsplit("-", 1)[1]) in workers


def test_each_job_is_sent_once_however_fast_they_come(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The publisher's sweep must not send again what it sent moments before."""
    import redis

    from tests.conftest import free_port

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    app = sample.create_app(
        {
            "HANDOFF_DATABASE_URL": f"sqlite:///{tmp_path}/once.sqlite3",
            "HANDOFF_BACKEND": "celery",
            "HANDOFF_CELERY_BROKER_URL": url,
        }
    )
    store = app.extensions["handoff"].store
    try:
        time.sleep(1)  # the publisher is up
        with app.app_context():
            for i in range(1500):
                sample.process_order.submit(i, identity="frank")
        deadline = time.monotonic() + 60
        while store.unpublished(time.time() + 60):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(3)  # sweeps that would send anything twice have run
        waiting = redis.Redis.from_url(url).llen("celery")
    finally:
        sample.handoff.shutdown(app, timeout=5)
        server.terminate()
        server.wait()

    assert waiting == 1500
    # By the publisher, not the sweep: the pipe held the whole burst (its default 64 KB
    # dropped a third of the lines, which went out with the sweep, 10 s later, saying so
    # on the publisher's stderr).
    assert "queued job(s) again" not in capfd.readouterr().err
