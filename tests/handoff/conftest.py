"""Every handoff test runs on SQLite and on PostgreSQL with the thread backend and on
PostgreSQL with the Celery backend (tests/conftest.py), each test on a fresh database,
unless its module says where it can fail (``runs_on``).

On Celery the jobs go through a real Redis to a real Celery worker (Celery's embedded
test worker, its thread pool, in this process), so a test can still look at what a task
did here. What only worker processes show (SIGKILL, hard time limits, prefork) is in
``test_celery_backend``, against ``flask handoff worker`` processes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_handoff.store import JobStore, make_engine
from tests.conftest import redis_db, require_env

from . import sample

AppFactory = Callable[..., Flask]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/jobs.sqlite3"
        return
    url = require_env("HANDOFF_TEST_POSTGRES_URL", "PostgreSQL")
    engine = make_engine(url)
    JobStore(engine).drop_tables()  # what an earlier run may have left
    engine.dispose()
    yield url
    engine = make_engine(url)
    JobStore(engine).drop_tables()
    engine.dispose()


@pytest.fixture(params=["thread", "celery"])
def backend_name(request: pytest.FixtureRequest) -> str:
    """Where the jobs run. A module about one backend overrides this fixture."""
    return str(request.param)


@pytest.fixture
def broker_url(backend_name: str) -> str | None:
    """A Redis database of the Celery runs' own, emptied for each test."""
    if backend_name != "celery":
        return None
    import redis

    url = redis_db(require_env("HANDOFF_TEST_REDIS_URL", "Redis"), 6)
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def make_app(database_url: str, broker_url: str | None, tmp_path: Any) -> Iterator[AppFactory]:
    """Builds sample apps on this test's database and backend (on Celery, each with a
    worker of its own); stops the workers and shuts the apps down afterwards."""
    apps: list[Flask] = []
    started: list[Flask] = []
    with contextlib.ExitStack() as workers:

        def build(**config: Any) -> Flask:
            config.setdefault("HANDOFF_DATABASE_URL", database_url)
            config.setdefault("HANDOFF_SPOOL_DIR", str(tmp_path / "spool"))
            if broker_url is not None:
                config.setdefault("HANDOFF_BACKEND", "celery")
                config.setdefault("HANDOFF_CELERY_BROKER_URL", broker_url)
                # A worker stops at its next look at the queue: look often.
                celery_settings = config.setdefault("HANDOFF_CELERY", {})
                celery_settings.setdefault("broker_transport_options", {"polling_interval": 0.1})
                # Sent from a thread of this process: a publisher process per test was
                # ~0.7 s of CPU. test_celery_backend's web apps keep the process.
                config.setdefault("HANDOFF_CELERY_PUBLISHER", "thread")
            app = sample.create_app(config)
            apps.append(app)
            # An app told not to start its workers is a web process with none beside it.
            if app.config["HANDOFF_BACKEND"] == "celery" and app.config["HANDOFF_AUTOSTART"]:
                # Celery's embedded workers share module state: one per process at a time.
                assert not started, "start the other apps with HANDOFF_AUTOSTART=False"
                workers.enter_context(celery_worker(app))
                started.append(app)
            return app

        yield build
    for app in apps:
        sample.handoff.shutdown(app, timeout=5)


@contextlib.contextmanager
def celery_worker(app: Flask) -> Iterator[None]:
    """A real Celery worker for ``app``, consuming from its broker in this process."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(
        app.extensions["celery"],
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        shutdown_timeout=30,
        loglevel="WARNING",
    ):
        yield


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture(autouse=True)
def _clean_sample_state() -> None:
    sample.OPLOG.clear()
    sample.ATTEMPTS.clear()
    sample.TURNS.clear()
    sample.GATE.clear()
    sample.BEATS.clear()


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer token-{user}"}


def flask_command(
    database_url: str, *args: str, lease: float = 60
) -> tuple[list[str], dict[str, str]]:
    """Argv and environment to run ``flask ... handoff <args>`` on the sample app, in
    another process, against this test's database."""
    env = {
        **os.environ,
        "HANDOFF_TEST_DATABASE_URL": database_url,
        "HANDOFF_TEST_LEASE": str(lease),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    argv = [sys.executable, "-m", "flask", "--app", "tests.handoff.sample:create_app"]
    return [*argv, "handoff", *args], env
