"""The Celery backend's publisher: a process of its own beside each web process.

Building and sending a Celery message costs ~0.5 ms of Python. Done by a thread of the web
process, that time is taken from the requests (they wait for the GIL): measured, a submit
on Celery took longer than Celery's own ``delay()``. So the web process only writes a line
to a pipe (a few µs, never blocking: when the pipe is full the line is dropped and the
sweep sends the job two seconds later), and this process sends the messages, marks them
published in one write per batch, and sweeps the table for rows never sent. It ends when
the web process does (the pipe's end closes).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

log = logging.getLogger("flask_handoff")

#: Seconds a queued row must stay unpublished before a sweep publishes it: the process
#: that committed it is normally done within milliseconds.
SETTLE_SECONDS = 2.0
#: Messages sent through one producer and marked published in one write.
BATCH = 200
#: The publisher process marks what it sent at most this often, in one write: a write per
#: message competed with the web process's inserts for SQLite's lock (p99 +1 ms). Well
#: under SETTLE_SECONDS, so a sweep never sends them again.
MARK_EVERY = 0.25

#: A message to send: job id, task name, when it is due (epoch seconds).
Outgoing = tuple[str, str, float]


@dataclass(frozen=True)
class PublisherSettings:
    """What the publisher needs of the app; picklable, so a spawned process gets it."""

    database_url: str
    engine_options: dict[str, Any]
    celery: dict[str, Any]
    poll_interval: float
    resend_after: float


class Sender:
    """Sends messages and marks them published; shared by the publisher process and by
    processes that publish from a thread (Celery's own worker processes)."""

    def __init__(
        self, store: Any, celery: Any, resend_after: float, *, defer_marks: bool = False
    ) -> None:
        self.store = store
        self.celery = celery
        self.resend_after = resend_after
        self.broker_down = False
        self._defer = defer_marks
        self._unmarked: list[str] = []
        self._marked_at = time.monotonic()

    def send(self, batch: list[Outgoing]) -> bool:
        """True if all were sent; what was not stays unpublished for the sweep."""
        sent: list[str] = []
        try:
            with self.celery.producer_or_acquire() as producer:
                for job_id, task, run_after in batch:
                    countdown = max(0.0, run_after - time.time())
                    self.celery.send_task(
                        task,
                        args=[job_id],
                        countdown=countdown or None,
                        retry=False,
                        producer=producer,
                    )
                    sent.append(job_id)
        except Exception as exc:
            if not self.broker_down:
                log.warning("broker unreachable; jobs stay queued and are sent later: %s", exc)
            self.broker_down = True
        else:
            if self.broker_down:
                log.warning("broker reachable again; sending the jobs that waited")
            self.broker_down = False
        self._unmarked += sent
        self.flush_marks(force=not self._defer)
        return not self.broker_down

    def flush_marks(self, *, force: bool = False) -> None:
        """Mark what was sent as published: now, or when ``MARK_EVERY`` has passed."""
        if self._unmarked and (force or time.monotonic() - self._marked_at >= MARK_EVERY):
            unmarked, self._unmarked = self._unmarked, []
            self.store.mark_published(unmarked)
            self._marked_at = time.monotonic()

    def sweep(self) -> None:
        """Send the queued rows nobody sent (their process died between commit and send,
        the broker was down, a recovery queued them again), and again those due and
        waiting longer than ``resend_after`` since they were sent (a lost message)."""
        now = time.time()
        for job_id in self.store.unpublished(now - SETTLE_SECONDS, now - self.resend_after):
            job = self.store.get(job_id)
            if job is None or job.state != "queued":
                continue
            if not self.send([(job_id, job.task, job.run_after)]):
                return  # broker down: the next sweep tries again


def run(settings: PublisherSettings, lines: Connection) -> None:
    """The publisher process: send what arrives on ``lines``, sweep between, end at EOF."""
    from celery import Celery

    from .store import JobStore, make_engine

    celery = Celery("flask_handoff.publisher", set_as_current=False)
    celery.config_from_object(settings.celery)
    store = JobStore(make_engine(settings.database_url, settings.engine_options))
    sender = Sender(store, celery, settings.resend_after, defer_marks=True)
    next_sweep = time.monotonic()
    while True:
        batch: list[Outgoing] = []
        try:
            wait = max(0.0, next_sweep - time.monotonic())
            if sender._unmarked:
                wait = min(wait, MARK_EVERY)
            while len(batch) < BATCH and lines.poll(0 if batch else wait):
                job_id, task, due = lines.recv_bytes().decode().split("\t")
                batch.append((job_id, task, float(due)))
        except (EOFError, OSError):
            if batch:
                sender.send(batch)
            sender.flush_marks(force=True)
            return  # the web process is gone
        try:
            if batch:
                sender.send(batch)
            sender.flush_marks()
            if time.monotonic() >= next_sweep:
                sender.sweep()
                next_sweep = time.monotonic() + settings.poll_interval * (
                    5 if sender.broker_down else 1
                )
        except Exception:
            log.exception("publisher round failed; retrying on the next")
