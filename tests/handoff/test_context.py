"""``identity()`` answers "who is acting" in a request, in a job and in neither."""

from __future__ import annotations

from flask import Flask

from flask_handoff import ANONYMOUS, identity
from flask_handoff.testing import run_eagerly, wait_for_job

from . import sample
from .conftest import bearer


def test_identity_in_a_request_is_the_signed_in_user(app: Flask) -> None:
    with app.test_request_context(headers=bearer("bob")):
        assert identity() == "bob"


def test_identity_in_a_request_without_user_is_the_default(app: Flask) -> None:
    with app.test_request_context():
        assert identity() == ANONYMOUS
        assert identity(default=None) is None


def test_identity_outside_request_and_job_is_the_default(app: Flask) -> None:
    with app.app_context():
        assert identity(default="nobody") == "nobody"
    assert identity() == ANONYMOUS


def test_identity_in_a_job_is_the_submitter(app: Flask) -> None:
    with app.test_request_context(headers=bearer("alice")):
        job = sample.process_order.submit(1)
    wait_for_job(app, job.id)

    assert sample.OPLOG == [("alice", "processed order 1")]


def test_eager_run_does_not_see_the_submitting_request(app: Flask) -> None:
    with run_eagerly(app), app.test_request_context("/x", headers=bearer("alice")):
        job = sample.legacy_process_order.submit(3)

    job = wait_for_job(app, job.id)
    assert job.error_type == "JobContextError"
