"""Jobs whose worker died: queued again, or failed on their last attempt, and announced.

Any live process may do this (every backend does, from its own thread): the store's
conditional updates let one of them win each job.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .redispatch import dispatch_again
from .runner import send_signal
from .signals import job_failed, job_retried

if TYPE_CHECKING:
    from .extension import HandoffState
    from .job import Job

log = logging.getLogger("flask_handoff")


def recover_expired(state: HandoffState) -> None:
    """Queue again the running jobs whose lease ran out; fail those on their last attempt
    (their files removed). Each is announced (``job_retried`` / ``job_failed``) in the
    app's context, with ``error_type`` ``WorkerLost``."""
    requeued, failed = state.store.recover_expired()
    for job_id in requeued:
        log.warning("job %s lost its worker; queued again", job_id)
        job = _announce(state, job_retried, job_id)
        if job is not None:
            dispatch_again(state.backend, job, job.run_after)
    for job_id in failed:
        log.error("job %s lost its worker on its last attempt; failed", job_id)
        state.spool.remove(job_id)
        _announce(state, job_failed, job_id)


def _announce(state: HandoffState, signal: Any, job_id: str) -> Job | None:
    job = state.store.get(job_id)
    if job is not None:
        with state.app.app_context():
            send_signal(signal, state.app, job)
    return job
