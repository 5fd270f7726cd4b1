"""Handing a stored job back to the backend after it was queued again.

A retry, a recovered job and a manual retry all go back with what the row says: their
task, submitter, queue and priority, as the first hand-off had them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .job import identity_key

if TYPE_CHECKING:
    from .backends import Backend
    from .job import Job


def dispatch_again(backend: Backend, job: Job, run_after: float | None) -> None:
    """Hand ``job``, queued again in the store, to ``backend`` to run at ``run_after``."""
    backend.dispatch(
        job.id,
        run_after,
        job.task,
        identity_key(job.identity),
        queue=job.queue,
        priority=job.priority,
    )
