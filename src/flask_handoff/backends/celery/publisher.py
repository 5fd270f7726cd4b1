"""The Celery backend's publisher: a process of its own beside each web process
(``main()`` run by ``python -c``, its settings and then the jobs on its stdin).

Building and sending a Celery message costs ~0.5 ms of Python. Done by a thread of the web
process, that time is taken from the requests (they wait for the GIL): measured, a submit
on Celery took longer than Celery's own ``delay()``. So the web process only writes a line
to a pipe (a few µs, never blocking: when the pipe is full the line is dropped and the
sweep sends the job ten seconds later), and this process sends the messages, marks them
published in one write per batch, and sweeps the table for rows never sent. It ends when
the web process does (its stdin closes). A plain subprocess, not a multiprocessing one:
that would import the application's main module again, which in a script without a
``__main__`` guard starts the application, and another publisher, and so on.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from ... import outage
from ...fair import release_order
from ...job import DEFAULT_QUEUE

log = logging.getLogger("flask_handoff")

#: Seconds a queued row must stay unpublished before a sweep publishes it. The process
#: that committed it is normally done within milliseconds, but a burst of thousands of
#: submissions can keep its publisher a few seconds behind; a sweep elsewhere (every
#: started process sweeps) would then send them a second time.
SETTLE_SECONDS = 10.0
#: Messages sent through one producer and marked published in one write.
BATCH = 200
#: The publisher process marks what it sent at most this often, in one write: a write per
#: message competed with the web process's inserts for SQLite's lock (p99 +1 ms). Well
#: under SETTLE_SECONDS, so a sweep never sends them again.
MARK_EVERY = 0.25

#: A message to send: job id, task name, when it is due (epoch seconds), its queue (as
#: Handoff names it) and priority.
Outgoing = tuple[str, str, float, str, int]


def celery_queue(celery: Any, queue: str) -> str:
    """The Celery queue of a Handoff queue: Handoff's default is the Celery app's, so
    workers started without ``--queues`` take it; any other has its own name."""
    return str(celery.conf.task_default_queue) if queue == DEFAULT_QUEUE else queue


@dataclass(frozen=True)
class Revocation:
    """A cancelled queued job's message, for the workers to drop."""

    message_id: str


def message_id(job_id: str, run_after: float) -> str:
    """The Celery task id of a job's message: the job and when it is due. Every send of
    one queueing (the first, a sweep's, a resend) has the same id, which a cancel can
    revoke; a later queueing of the same job (a manual retry) has another, which that
    revoke does not drop (workers remember revoked ids for hours). Flower and ``celery
    inspect`` show the job id at its front."""
    return f"{job_id}-{round(run_after * 1000)}"


@dataclass(frozen=True)
class PublisherSettings:
    """What the publisher needs of the app; picklable, so a spawned process gets it."""

    database_url: str
    engine_options: dict[str, Any]
    celery: dict[str, Any]
    poll_interval: float
    resend_after: float
    in_flight_per_key: int | None = None


class Sender:
    """Sends messages and marks them published; shared by the publisher process and by
    processes that publish from a thread (Celery's own worker processes)."""

    def __init__(
        self,
        store: Any,
        celery: Any,
        resend_after: float,
        poll_interval: float,
        *,
        defer_marks: bool = False,
        in_flight_per_key: int | None = None,
    ) -> None:
        self.store = store
        self.celery = celery
        self.resend_after = resend_after
        self.poll_interval = poll_interval
        #: Fair release (``HANDOFF_CELERY_IN_FLIGHT_PER_KEY``): at most this many jobs of
        #: one identity with the broker or running; the rest wait in the table, released
        #: round-robin across identities. None: every job is sent when submitted.
        self.in_flight_per_key = in_flight_per_key
        self._next_sweep = time.monotonic()
        self.broker_down = False
        self._defer = defer_marks
        self._unmarked: list[str] = []
        self._marked_at = time.monotonic()

    def send(self, batch: list[Outgoing], *, mark: bool = True) -> bool:
        """True if all were sent; what was not stays unpublished for the sweep.
        ``mark``: mark what was sent published (not when the caller marked it first)."""
        sent: list[str] = []
        try:
            with self.celery.producer_or_acquire() as producer:
                # The most urgent first: in a round, a high priority goes out before the
                # rest, whose order stays (the sort is stable).
                for job_id, task, run_after, queue, _ in sorted(batch, key=lambda o: -o[4]):
                    countdown = max(0.0, run_after - time.time())
                    self.celery.send_task(
                        task,
                        args=[job_id],
                        task_id=message_id(job_id, run_after),
                        countdown=countdown or None,
                        queue=celery_queue(self.celery, queue),
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
        if mark:
            self._unmarked += sent
            self.flush_marks(force=not self._defer)
        return not self.broker_down

    def revoke(self, message_ids: list[str]) -> None:
        """Tell the workers to drop these messages: a delayed one would otherwise wait in
        a worker's memory until it is due. Best effort: a worker that misses it finds the
        job cancelled when it claims it."""
        try:
            self.celery.control.revoke(message_ids)
        except Exception as exc:
            log.warning("could not revoke %d cancelled jobs' messages: %s", len(message_ids), exc)

    def flush_marks(self, *, force: bool = False) -> None:
        """Mark what was sent as published: now, or when ``MARK_EVERY`` has passed."""
        if self._unmarked and (force or time.monotonic() - self._marked_at >= MARK_EVERY):
            unmarked, self._unmarked = self._unmarked, []
            self.store.mark_published(unmarked)
            self._marked_at = time.monotonic()

    @property
    def has_unmarked(self) -> bool:
        return bool(self._unmarked)

    def seconds_to_sweep(self) -> float:
        return max(0.0, self._next_sweep - time.monotonic())

    def deliver(self, batch: list[Outgoing], revoked: list[str]) -> None:
        """One round's messages: sent through one producer per ``BATCH``, then the
        revocations. Both publishing loops (the publisher process's, and a thread's where
        none runs) hand over what they gathered here. Under fair release a batch only says
        that jobs came: what goes out is chosen from the table (``release``)."""
        if self.in_flight_per_key is not None:
            if batch:
                self.release()
        else:
            for start_at in range(0, len(batch), BATCH):
                self.send(batch[start_at : start_at + BATCH])
        if revoked:
            self.revoke(revoked)

    def release(self) -> None:
        """Fair release: send the due jobs waiting in the table that each identity's cap
        allows, round-robin across identities (``fair.release_order``). Each is marked
        published before it is sent, so two publishers never both send it; what the broker
        does not take is marked unpublished again."""
        assert self.in_flight_per_key is not None
        held = self.store.held(time.time())
        if not held:
            return
        order = release_order(held, self.store.in_flight_by_key(), self.in_flight_per_key)
        mine = self.store.take_for_publishing([job[0] for job in order])
        batch = [job for job in order if job[0] in mine]
        for start_at in range(0, len(batch), BATCH):
            part = batch[start_at : start_at + BATCH]
            if not self.send(part, mark=False):
                self.store.mark_unpublished([job[0] for job in part])

    def sweep_if_due(self) -> None:
        """Sweep once per poll interval; five times less often while the broker is down.
        The next sweep's time is set before this one runs: a sweep that fails (the
        database away) waits its turn as one that succeeds does, never a busy loop."""
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.poll_interval * (
                5 if self.broker_down else 1
            )
            self.sweep()

    def sweep(self) -> None:
        """Send the queued rows nobody sent (their process died between commit and send,
        the broker was down, a recovery queued them again), and again those due and
        waiting longer than ``resend_after`` since they were sent (a lost message)."""
        self.flush_marks(force=True)  # what this process sent is not "never sent"
        now = time.time()
        fair = self.in_flight_per_key is not None
        if fair:
            self.release()  # what waits in the table is sent by the release, fairly
        batch = self.store.unpublished(
            None if fair else now - SETTLE_SECONDS, now - self.resend_after
        )
        if batch:
            sent = self.send(batch)
            self.flush_marks(force=True)
            if sent:
                log.warning(
                    "sent %d queued job(s) again: never sent, or still waiting %.0f s"
                    " after they were sent (a message the broker lost)",
                    len(batch),
                    self.resend_after,
                )


def start(settings: PublisherSettings) -> subprocess.Popen[bytes]:
    """Start a publisher process; write ``line(...)`` to its stdin (non-blocking)."""
    try:
        header = json.dumps(dataclasses.asdict(settings)).encode() + b"\n"
    except (TypeError, ValueError) as exc:
        from ...errors import ConfigurationError

        raise ConfigurationError(
            f"HANDOFF_CELERY and HANDOFF_ENGINE_OPTIONS must be JSON-safe values (they go"
            f" to the publisher process): {exc}."
        ) from None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    process = subprocess.Popen(
        # ``-c``, not ``-m``: the package imports this module first, and runpy warns
        # when it then runs it again as ``__main__``.
        [sys.executable, "-c", "from flask_handoff.backends.celery.publisher import main; main()"],
        stdin=subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None
    _widen(process.stdin.fileno())
    process.stdin.write(header)
    process.stdin.flush()
    os.set_blocking(process.stdin.fileno(), False)  # a full pipe drops a line, never waits
    return process


#: Linux's F_SETPIPE_SZ (not in Python's fcntl before 3.10 on every platform).
_F_SETPIPE_SZ = 1031
#: A pipe this size holds ~15,000 lines: a burst of submissions that outruns the
#: publisher for a moment waits in it instead of being dropped.
PIPE_BYTES = 1 << 20


def _widen(fd: int) -> None:
    """Make the pipe to the publisher hold a burst. Its default 64 KB held ~900 lines: in
    a burst of 1,000 submissions a third were dropped and went out only with the sweep, 10
    s later (short jobs on Celery measured 86 a second, most of it that wait). Best
    effort: where the system refuses, the pipe keeps its size and the sweep its role."""
    for size in (PIPE_BYTES, PIPE_BYTES // 4):
        try:
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", _F_SETPIPE_SZ), size)
            return
        except OSError:
            continue


def line(outgoing: Outgoing) -> bytes:
    """One job for the publisher: short enough that the pipe takes it whole or not at all."""
    job_id, task, due, queue, priority = outgoing
    return f"{job_id}\t{task}\t{due!r}\t{queue}\t{priority}\n".encode()


def revoke_line(revocation: Revocation) -> bytes:
    """A message for the publisher to revoke."""
    return f"revoke\t{revocation.message_id}\n".encode()


def run(settings: PublisherSettings, fd: int) -> None:
    """Send what arrives on ``fd``, sweep in between, end at EOF."""
    from celery import Celery

    from ...store import JobStore, make_engine

    celery = Celery("flask_handoff.backends.celery.publisher", set_as_current=False)
    celery.config_from_object(settings.celery)
    store = JobStore(make_engine(settings.database_url, settings.engine_options))
    sender = Sender(
        store,
        celery,
        settings.resend_after,
        settings.poll_interval,
        defer_marks=True,
        in_flight_per_key=settings.in_flight_per_key,
    )
    pending = b""
    while True:
        wait = sender.seconds_to_sweep()
        if sender.has_unmarked:
            wait = min(wait, MARK_EVERY)
        readable, _, _ = select.select([fd], [], [], wait)
        chunk = os.read(fd, 1 << 16) if readable else b""
        ended = bool(readable) and not chunk
        pending += chunk
        *complete, pending = pending.split(b"\n")
        batch: list[Outgoing] = []
        revoked: list[str] = []
        for raw in complete:
            fields = raw.decode().split("\t")
            if fields[0] == "revoke":
                revoked.append(fields[1])
            else:
                batch.append((fields[0], fields[1], float(fields[2]), fields[3], int(fields[4])))
        try:
            sender.deliver(batch, revoked)
            sender.flush_marks(force=ended)
            if ended:
                return  # the web process is gone
            if not select.select([fd], [], [], 0)[0]:
                # Only with nothing waiting in the pipe: rows still in it are not lost.
                sender.sweep_if_due()
        except Exception as exc:
            outage.report(log, "publisher round", exc)


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s[%(process)d] %(message)s"
    )
    fd = sys.stdin.fileno()
    header = b""
    while not header.endswith(b"\n"):  # the settings, one line, read byte by byte so
        byte = os.read(fd, 1)  # nothing after it is taken from the pipe
        if not byte:
            return
        header += byte
    run(PublisherSettings(**json.loads(header)), fd)


if __name__ == "__main__":
    main()
