"""A process running a job is killed; another process on the same database finishes it."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import flask_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def backend_name() -> str:
    """The thread backend's worker processes; Celery's are killed in test_celery_backend."""
    return "thread"


@pytest.fixture
def start_worker(database_url: str, tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        argv, env = flask_command(database_url, "worker", lease=1)
        proc = subprocess.Popen(
            argv,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_job_of_a_killed_process_is_rerun_to_success_by_a_new_one(
    make_app: Any, start_worker: Any, tmp_path: Path
) -> None:
    web = make_app(HANDOFF_AUTOSTART=False)  # submits only, like a web process
    marker = tmp_path / "running"
    with web.app_context():
        job = sample.sleep_then_mark.submit(1.0, str(marker), identity="alice")

    first = start_worker()
    _wait_for(marker)
    assert web.extensions["handoff"].store.get(job.id).state == "running"
    first.send_signal(signal.SIGKILL)
    first.wait()
    marker.unlink()

    start_worker()
    done = wait_for_job(web, job.id, timeout=30)
    assert done.state == "succeeded"
    assert done.result == "done"
    assert done.attempts == 2
    assert done.identity == "alice"
    assert int(marker.read_text()) != first.pid


def test_a_job_that_keeps_killing_its_worker_ends_failed_with_a_reason(
    make_app: Any, start_worker: Any
) -> None:
    web = make_app(HANDOFF_AUTOSTART=False)
    store = web.extensions["handoff"].store
    with web.app_context():
        job = sample.die_hard.submit(identity="alice")

    for _ in range(4):
        if store.get(job.id).finished:
            break
        proc = start_worker()
        deadline = time.monotonic() + 20
        while proc.poll() is None and not store.get(job.id).finished:
            assert time.monotonic() < deadline, "the worker neither died nor finished the job"
            time.sleep(0.05)
        if proc.poll() is None:
            proc.terminate()
            proc.wait()

    failed = store.get(job.id)
    assert failed.state == "failed"
    assert failed.attempts == 2
    assert failed.error_type == "WorkerLost"
    assert "stopped (killed or crashed) on each of 2 attempts" in failed.error_message


def test_sigterm_lets_the_running_job_finish(
    make_app: Any, start_worker: Any, tmp_path: Path
) -> None:
    web = make_app(HANDOFF_AUTOSTART=False)
    marker = tmp_path / "running"
    with web.app_context():
        job = sample.sleep_then_mark.submit(0.5, str(marker), identity="alice")
    proc = start_worker()
    _wait_for(marker)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    finished = web.extensions["handoff"].store.get(job.id)
    assert finished.state == "succeeded"
    assert finished.attempts == 1
