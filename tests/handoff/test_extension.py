"""The extension object: init_app, configuration, several apps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_handoff import ConfigurationError, Handoff, NotInitializedError
from flask_handoff.testing import run_eagerly, wait_for_job

from . import sample


def test_init_app_sets_defaults_and_registers_state(tmp_path: Path) -> None:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    ext = Handoff()
    ext.init_app(app)
    try:
        assert app.extensions["handoff"].ext is ext
        assert app.config["HANDOFF_BACKEND"] == "thread"
        assert app.config["HANDOFF_DATABASE_URL"].endswith("instance/handoff.sqlite3")
        assert (tmp_path / "instance" / "handoff.sqlite3").exists()
    finally:
        ext.shutdown(app)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("HANDOFF_POOL_SIZE", 0),
        ("HANDOFF_LEASE_SECONDS", "soon"),
        ("HANDOFF_BACKEND", "rq"),
        ("HANDOFF_CELERY_PUBLISHER", "subprocess"),
    ],
)
def test_misconfiguration_fails_at_init_app_naming_the_key(
    tmp_path: Path, key: str, value: Any
) -> None:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config[key] = value

    with pytest.raises(ConfigurationError, match=key):
        Handoff(app)


def test_one_extension_serves_several_apps_each_with_its_own_jobs(
    make_app: Any, tmp_path: Path
) -> None:
    one = make_app()
    two = make_app(
        HANDOFF_DATABASE_URL=f"sqlite:///{tmp_path}/two.sqlite3", HANDOFF_AUTOSTART=False
    )
    with one.app_context():
        job = sample.process_order.submit(1, identity="alice")

    assert wait_for_job(one, job.id).state == "succeeded"
    assert two.extensions["handoff"].store.get(job.id) is None


def test_submit_in_an_app_without_init_app_explains_the_fix() -> None:
    with Flask(__name__).app_context(), pytest.raises(NotInitializedError, match="init_app"):
        sample.process_order.submit(1)


def test_a_task_is_still_a_plain_function(app: Flask) -> None:
    with app.app_context(), pytest.raises(RuntimeError, match="outside of a job"):
        sample.process_order(1)  # uses current_job, so it must run as a job
    assert sample.flaky("direct", 0) == 1


def test_run_eagerly_finishes_the_job_before_submit_returns(app: Flask) -> None:
    with run_eagerly(app), app.app_context():
        job = sample.flaky.submit("eager", 2, identity="alice")
        stored = app.extensions["handoff"].store.get(job.id)

    assert stored.state == "succeeded"
    assert stored.attempts == 3  # retries ran at once, without the backoff wait
