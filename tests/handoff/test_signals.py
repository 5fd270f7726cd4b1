"""Signals carry the job and its submitter, for audit logs."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask

from flask_handoff import job_failed, job_retried, job_started, job_submitted, job_succeeded
from flask_handoff.recovery import recover_expired
from flask_handoff.testing import wait_for_job

from . import sample


@pytest.mark.runs_on(backend="thread")
def test_a_job_of_this_process_is_never_seen_starting_before_it_was_seen_submitted(
    make_app: Any,
) -> None:
    """The ticker polls the store for due jobs; a job stored but not yet announced is
    left to its own hand-off. Its ``submitted`` receiver takes several polls here, as a
    slow audit-log write would: the job had started (and ended) by its end before."""
    app = make_app(HANDOFF_POLL_INTERVAL=0.05)
    seen: list[str] = []

    def submitted(sender: Flask, **extra: Any) -> None:
        time.sleep(0.5)
        seen.append("submitted")

    def started(sender: Flask, **extra: Any) -> None:
        seen.append("started")

    job_submitted.connect(submitted, app)
    job_started.connect(started, app)
    try:
        with app.app_context():
            job = sample.process_order.submit(1, identity="alice")
        wait_for_job(app, job.id)
    finally:
        job_submitted.disconnect(submitted, app)
        job_started.disconnect(started, app)

    assert seen == ["submitted", "started"]


def test_lifecycle_signals_carry_the_job_and_its_identity(make_app: Any) -> None:
    # A retry waits for its backoff, so `retried` is seen before the next `started` as long
    # as receivers take less than the backoff; 50 ms is too tight on a loaded machine.
    app = make_app(HANDOFF_RETRY_BACKOFF=0.5)
    seen: list[tuple[str, str, Any]] = []

    def receiver(name: str) -> Any:
        def receive(sender: Flask, job: Any, identity: Any, **extra: Any) -> None:
            assert sender is app
            seen.append((name, job.state, identity))

        return receive

    receivers = {
        "submitted": receiver("submitted"),
        "started": receiver("started"),
        "retried": receiver("retried"),
        "succeeded": receiver("succeeded"),
        "failed": receiver("failed"),
    }
    signals = {
        "submitted": job_submitted,
        "started": job_started,
        "retried": job_retried,
        "succeeded": job_succeeded,
        "failed": job_failed,
    }
    for name, sig in signals.items():
        sig.connect(receivers[name], app)
    try:
        with app.app_context():
            ok = sample.flaky.submit("s", 1, identity="alice")
        wait_for_job(app, ok.id)
        with app.app_context():
            bad = sample.legacy_process_order.submit(1, identity="bob")
        wait_for_job(app, bad.id)
    finally:
        for name, sig in signals.items():
            sig.disconnect(receivers[name], app)

    alice = [s for s in seen if s[2] == "alice"]
    bob = [s for s in seen if s[2] == "bob"]
    assert alice == [
        ("submitted", "queued", "alice"),
        ("started", "running", "alice"),
        ("retried", "queued", "alice"),
        ("started", "running", "alice"),
        ("succeeded", "succeeded", "alice"),
    ]
    assert bob == [
        ("submitted", "queued", "bob"),
        ("started", "running", "bob"),
        ("failed", "failed", "bob"),
    ]


def test_a_failing_receiver_does_not_change_the_job(app: Flask) -> None:
    def broken(sender: Flask, **extra: Any) -> None:
        raise ValueError("audit database down")

    job_started.connect(broken, app)
    try:
        with app.app_context():
            job = sample.process_order.submit(3, identity="alice")
        assert wait_for_job(app, job.id).state == "succeeded"
    finally:
        job_started.disconnect(broken, app)


def test_wait_for_job_returns_after_the_final_signal_was_handled(make_app: Any) -> None:
    # A receiver that writes an audit entry runs just after the final state is committed;
    # a test waiting for the job must be able to assert on that entry.
    app = make_app()
    handled: list[str] = []

    def slow_receiver(sender: Flask, job: Any, identity: Any, **extra: Any) -> None:
        import time

        time.sleep(0.3)
        handled.append(job.id)

    job_succeeded.connect(slow_receiver, app)
    try:
        with app.app_context():
            job = sample.process_order.submit(7, identity="alice")
        done = wait_for_job(app, job.id)
    finally:
        job_succeeded.disconnect(slow_receiver, app)

    assert done.state == "succeeded"
    assert handled == [job.id]


def test_a_job_whose_worker_died_is_announced_as_retried_then_failed(app: Flask) -> None:
    backend = app.extensions["handoff"].backend
    store = app.extensions["handoff"].store
    backend.shutdown(0)  # the app's own workers stay out of it
    with app.app_context():
        job_id = sample.whoami.submit(identity="alice").id
    seen: list[tuple[str, str | None, Any]] = []

    def retried(sender: Flask, job: Any, identity: Any, **extra: Any) -> None:
        seen.append(("retried", job.error_type, identity))

    def failed(sender: Flask, job: Any, identity: Any, **extra: Any) -> None:
        seen.append(("failed", job.error_type, identity))

    job_retried.connect(retried, app)
    job_failed.connect(failed, app)
    try:
        max_attempts = store.get(job_id).max_attempts
        for attempt in range(max_attempts):
            # A worker takes the job and dies: its lease is already over.
            assert store.claim(job_id, f"dead-{attempt}", lease_seconds=-1) is not None
            recover_expired(app.extensions["handoff"])  # what any live process does
    finally:
        job_retried.disconnect(retried, app)
        job_failed.disconnect(failed, app)

    assert seen == [("retried", "WorkerLost", "alice")] * (max_attempts - 1) + [
        ("failed", "WorkerLost", "alice")
    ]
    job = store.get(job_id)
    assert job.state == "failed"
    assert "stopped (killed or crashed) on each of" in job.error_message
