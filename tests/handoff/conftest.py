"""Every handoff test runs on SQLite and on PostgreSQL, each test on a fresh database."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_handoff.store import JobStore, make_engine
from tests.conftest import require_env

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


@pytest.fixture
def make_app(database_url: str, tmp_path: Any) -> Iterator[AppFactory]:
    """Builds sample apps on this test's database; shuts their workers down afterwards."""
    apps: list[Flask] = []

    def build(**config: Any) -> Flask:
        config.setdefault("HANDOFF_DATABASE_URL", database_url)
        config.setdefault("HANDOFF_SPOOL_DIR", str(tmp_path / "spool"))
        app = sample.create_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        sample.handoff.shutdown(app, timeout=5)


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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
