"""Helpers for an application's own tests."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .backends.eager import EagerBackend
from .errors import NoSuchJobError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask

    from .job import Job
    from .store import JobStore


@contextmanager
def run_eagerly(app: Flask) -> Iterator[None]:
    """Run every job submitted inside the block at once, before ``submit`` returns.

    Jobs still run outside the request (a task that reads ``request`` fails as in
    production) and still go through the store, so their state is real.
    """
    state = app.extensions["handoff"]
    previous = state.backend
    state.backend = EagerBackend(state)
    try:
        yield
    finally:
        state.backend = previous


def wait_for_job(
    app: Flask, job_id: str, timeout: float = 10.0, *, state: str | None = None
) -> Job:
    """Wait until the job is finished (or in ``state``); ``TimeoutError`` says where it is.

    A job run by this process counts as finished once its final signal receivers have run
    and its spooled files are gone, so a test can assert on what they did.
    """
    handoff = app.extensions["handoff"]
    store: JobStore = handoff.store
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job is None:
            raise NoSuchJobError(job_id)
        if state is None and job.finished and job.id not in handoff.executing:
            return job
        if state is not None and job.state == state:
            return job
        time.sleep(0.02)
    where = f"{job.state}, attempt {job.attempts}" if job else "unknown"
    raise TimeoutError(f"job {job_id} still {where} after {timeout} s")
