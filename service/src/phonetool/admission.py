"""Whether the service takes one more upload now, decided before its body is read.

A full service answers, it does not fail: too many uploads of one member still waiting is
``429``, too many in all or too little disk for the spool is ``503``; both with
``Retry-After`` and a JSON reason, so a client (or the page) knows to wait and try again.

``Retry-After`` is an estimate, not a constant: the jobs ahead of the member's oldest
waiting upload (or the jobs over the service's limit) divided by how fast jobs have been
ending lately. A client that follows it gets through as fast as the workers allow, and
more workers mean shorter waits; one that comes back early gets another cheap 429.
"""

from __future__ import annotations

import math
import shutil

from flask import current_app

from flask_handoff.job import JobState

from .extensions import handoff
from .i18n import say
from .jobs import process_upload

ACTIVE = (JobState.QUEUED, JobState.RUNNING)


class Overloaded(Exception):
    """Answered with ``status``, ``Retry-After: retry_after`` and a JSON reason."""

    def __init__(self, status: int, error: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.retry_after = (
            status,
            error,
            message,
            retry_after,
        )


def spool_free_mb() -> int:
    """Free disk where uploads are spooled, in MB (read also by ``/readyz``)."""
    spool = current_app.extensions["handoff"].spool.root
    while not spool.exists():  # before the first upload
        spool = spool.parent
    return shutil.disk_usage(spool).free // (1024 * 1024)


def admit(member_id: int) -> None:
    """Raise ``Overloaded`` unless there is room for one more upload of this member."""
    config = current_app.config
    free_mb = spool_free_mb()
    if free_mb < config["PHONETOOL_MIN_FREE_MB"]:
        raise Overloaded(
            503,
            "disk_full",
            say(
                "The service is short of disk space for uploads (%(mb)s MB free). Try again later.",
                mb=f"{free_mb:,}",
            ),
            retry_after=300,
        )
    task = process_upload.name
    mine = handoff.count_jobs(identity=member_id, states=ACTIVE, task=task)
    if mine >= config["PHONETOOL_MAX_ACTIVE_PER_MEMBER"]:
        head = handoff.list_jobs(identity=member_id, states=ACTIVE, limit=1, oldest_first=True)
        ahead = 1 + (
            handoff.count_jobs(states=ACTIVE, task=task, created_before=head[0].created_at)
            if head
            else 0
        )
        raise Overloaded(
            429,
            "too_many_uploads",
            say(
                "You have %(n)d uploads waiting or in progress, the most one member may have"
                " at once. Wait for some to finish (GET /api/jobs), then upload again.",
                n=mine,
            ),
            retry_after=_seconds_for(ahead, task),
        )
    everyone = handoff.count_jobs(states=ACTIVE, task=task)
    if everyone >= config["PHONETOOL_MAX_ACTIVE"]:
        raise Overloaded(
            503,
            "busy",
            say(
                "The service has %(n)d uploads waiting or in progress, as many as it takes at"
                " once. Try again in a minute.",
                n=everyone,
            ),
            retry_after=_seconds_for(everyone - config["PHONETOOL_MAX_ACTIVE"] + 1, task),
        )


#: Bounds of an estimated wait: no sooner than a second, and never so long that a client
#: sleeps through the queue emptying after a slow spell.
_SOONEST, _LATEST = 1, 120
#: The wait when no job ended lately (the first burst after a quiet time): a short probe.
_UNKNOWN = 5


def _seconds_for(jobs: int, task: str) -> int:
    """How long until ``jobs`` more jobs end, at the rate they have been ending."""
    rate = handoff.throughput(task=task)
    if rate is None:
        return _UNKNOWN
    return max(_SOONEST, min(_LATEST, math.ceil(jobs / rate)))
