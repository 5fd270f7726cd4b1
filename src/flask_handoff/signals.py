"""Blinker signals, as Flask's own: an audit log subscribes instead of wrapping every task.

Each is sent with the app as sender and keyword arguments ``job`` (a ``Job``) and
``identity`` (its submitter)::

    @job_failed.connect_via(app)
    def audit(sender, job, identity, **extra):
        log.warning("job %s of %s failed: %s", job.id, identity, job.error_message)

Receivers run in the thread that changed the job (the request for ``job_submitted``, the
worker for the rest); an exception in a receiver is logged and does not change the job.
Within the process that submits a job, ``job_submitted`` is received before the job's
``job_started``; a worker in another process (the job is stored first) may start it
sooner, so an audit log across processes orders by the job's own timestamps.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

job_submitted = _signals.signal("job-submitted")
job_started = _signals.signal("job-started")
job_succeeded = _signals.signal("job-succeeded")
job_failed = _signals.signal("job-failed")
job_retried = _signals.signal("job-retried")
job_cancelled = _signals.signal("job-cancelled")
