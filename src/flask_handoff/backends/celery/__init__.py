"""Celery as the engine: the same jobs, run by Celery workers on any machine.

The store stays the single source of truth; a Celery message only says "job <id> may be
due now". So identity, snapshot, secrets, files, state, progress, results, the status API
and access rules are the same as on threads, and the same runner (``execute``) runs the
task body.

**Off the broker's clock.** ``submit()`` commits the row and hands the id to a publisher:
a process of its own beside each started web process (:mod:`..publisher`: sending a
message costs ~0.5 ms of Python, which a thread would take from the requests), or a thread
where none was started (Celery's worker processes publishing retries) or the app asks for
one (``HANDOFF_CELERY_PUBLISHER="thread"``: a process that submits little, the tests'
apps, a host that allows no child process). A request never
waits on Redis, and Redis down means "accepted, runs when Redis is back": the row is the
outbox. Rows that stay unpublished (the process died between commit and publish, the
broker was down, a retry or a recovery queued the job again) are found by the publisher's
sweep, and sent then.

**At-least-once on Celery's terms.** Messages are acknowledged after the task
(``acks_late``) and given back when a worker process dies (``reject_on_worker_lost``); the
claim (``UPDATE ... WHERE state='queued'``) keeps a second delivery from running a job
twice at once. Each worker process renews the leases of the jobs it runs and passes on
cancellations; a job whose worker died is queued again (and published) by any live
process when its lease runs out. Retries are published with a countdown of the same
backoff as on threads. A task's ``timeout`` becomes Celery's ``soft_time_limit`` (raising
``JobTimeoutError`` in the task, and only there: not in the write of its outcome) and a
hard ``time_limit`` ``HANDOFF_TIMEOUT_GRACE`` later, which kills the worker process
(prefork pool).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from ... import outage
from ...job import DEFAULT_QUEUE, JobState
from ...recovery import recover_expired
from ...runner import execute
from .. import CHORE_ROUND_SECONDS
from . import publisher

if TYPE_CHECKING:
    from ...context import JobContext
    from ...extension import HandoffState
    from ...task import Task as HandoffTask

log = logging.getLogger("flask_handoff")

#: What waits for this process's sender thread: a job to send, or a message to revoke.
_Outboxed = publisher.Outgoing | publisher.Revocation


def celery_config(state: HandoffState) -> dict[str, Any]:
    """Celery settings for Handoff's guarantees, under the app's ``HANDOFF_CELERY``."""
    c = state.app.config
    longest = max(
        [t.timeout or 0 for t in state.ext.tasks.values()] + [state.default_timeout or 0, 3600]
    )
    settings = dict(c["HANDOFF_CELERY"])
    # Added to, not replaced: a setting of the user's here keeps the visibility timeout.
    transport = {
        "visibility_timeout": int(longest * 2 + 600),
        **dict(settings.pop("broker_transport_options", {})),
    }
    return {
        "broker_url": c["HANDOFF_CELERY_BROKER_URL"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,  # results live in the store
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        # Flower and `celery events` see each task start and end without a flag on the
        # worker's command line.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        # Redis gives an unacknowledged message to another worker after this long: longer
        # than the longest task, or a slow job would run twice.
        "broker_transport_options": transport,
        **settings,
    }


class CeleryBackend:
    name = "celery"
    _publisher: Any  # the publisher process, once started
    _pipe_fd: int | None  # the file descriptor of its stdin

    def __init__(self, state: HandoffState) -> None:
        self.state = state
        #: Raised in a task at its soft time limit; the runner reports ``JobTimeoutError``.
        self.timeout_errors: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded,)
        self.celery = _celery_app(state)
        #: A due job still queued this long after its message was sent is sent again.
        self.resend_after = float(state.app.config["HANDOFF_CELERY_RESEND_AFTER"])
        #: Fair release across identities (publisher.Sender.release); None: off.
        cap = state.app.config["HANDOFF_CELERY_IN_FLIGHT_PER_KEY"]
        self.in_flight_per_key = int(cap) if cap else None
        #: Where this process's jobs go to the broker from (HANDOFF_CELERY_PUBLISHER).
        self.publish_from_thread = state.app.config["HANDOFF_CELERY_PUBLISHER"] == "thread"
        self._registered: set[str] = set()
        for task in list(state.ext.tasks.values()):
            self.register(task)
        self._lock = threading.Lock()
        self._reset()
        worker_process_init.connect(self._in_worker_process, weak=False)

    # -- handing jobs to the broker -------------------------------------------------------

    def start(self) -> None:
        """Start this process's publisher (a process, or with HANDOFF_CELERY_PUBLISHER
        "thread" a thread: it sweeps from the start, not from the first submit) and the
        thread that recovers jobs whose worker died (and restarts the publisher process
        should it die)."""
        if self.publish_from_thread:
            self._ensure_thread("sender")
        else:
            with self._lock:
                if self._stop.is_set() or self._publisher is not None:
                    return
                self._start_publisher()
        self._ensure_thread("watcher")

    def dispatch(
        self,
        job_id: str,
        run_after: float | None,
        task: str | None = None,
        key: str | None = None,
        *,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
    ) -> None:
        if task is None or run_after is None:  # a manual retry, which is rare: read the row
            job = self.state.store.get(job_id)
            if job is None or job.state != JobState.QUEUED:
                return
            task, run_after = job.task, job.run_after
        outgoing = (job_id, task, run_after, queue, priority)
        self._hand_over(publisher.line(outgoing), outgoing)

    def celery_queue(self, queue: str) -> str:
        """The Celery queue that Handoff's ``queue`` is sent to (``worker --queues``)."""
        return publisher.celery_queue(self.celery, queue)

    def cancelled(self, job_id: str, run_after: float) -> None:
        """Revoke the message, through the publisher (a revoke is a broadcast over the
        broker, which a request must not wait for)."""
        revocation = publisher.Revocation(publisher.message_id(job_id, run_after))
        self._hand_over(publisher.revoke_line(revocation), revocation)

    def _hand_over(self, line: bytes, item: _Outboxed) -> None:
        """To this process's publisher through its pipe, never waiting: a full pipe drops
        the line (the sweep sends a job later; the claim drops a cancelled one). Where no
        publisher process runs (Celery's worker processes), to the sender thread. Once
        stopped, to neither: the row waits in the store for a live process's sweep (the
        sender, still sending what came before the stop, sent one after it)."""
        if self._stop.is_set():
            return
        pipe_fd = self._pipe_fd
        if pipe_fd is not None:
            with contextlib.suppress(OSError):
                os.write(pipe_fd, line)
            return
        self._ensure_thread("sender")
        self._outbox.put(item)

    def wake(self) -> None:
        pass  # a cancel reaches running jobs through the store (see _watch_loop)

    def shutdown(self, timeout: float) -> None:
        """Send what waits (within ``timeout``) and stop. Running tasks belong to the
        Celery worker, which hands its unfinished messages back itself."""
        self._stop.set()
        self._outbox.put(None)
        for thread in self._threads.values():
            # The round under way ends first, whatever the timeout (bounded): a recovery
            # or a send after shutdown returned could queue again, or run, a job just
            # claimed.
            thread.join(max(CHORE_ROUND_SECONDS, timeout))
        if self._publisher is not None:
            self._pipe_fd = None  # its number may name another file once closed
            self._publisher.stdin.close()  # the publisher sends what it has, then ends
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._publisher.wait(timeout)

    def health(self) -> dict[str, str]:
        """The broker answers, and this process's publisher runs (where it should)."""
        checks = {"broker": "ok"}
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, interval_start=0, timeout=1)
        except Exception as exc:  # any transport's error: in words, not raised
            checks["broker"] = f"unreachable: {type(exc).__name__}: {exc}"[:300]
        process, sender = self._publisher, self._threads.get("sender")
        if process is not None:
            checks["publisher"] = "ok" if process.poll() is None else "ended; restarting"
        elif self.publish_from_thread and sender is not None:
            checks["publisher"] = "ok (thread)" if sender.is_alive() else "thread ended"
        else:  # a process that only submits, or a Celery worker's: others publish
            checks["publisher"] = "off"
        return checks

    @property
    def worker_id(self) -> str:
        """Per process: a prefork pool's children each claim as themselves."""
        return _worker_id()

    def register(self, task: HandoffTask[Any, Any]) -> None:
        """A Celery task of the same name, so Flower and ``celery inspect`` show it."""
        if task.name in self._registered:
            return
        limits: dict[str, float] = {}
        if task.timeout:
            limits = {
                "soft_time_limit": task.timeout,
                "time_limit": task.timeout + self.state.timeout_grace,
            }
        backend = self

        # Not shared: a shared task joins every Celery app made later in the process, so
        # a second Flask app (an app factory called twice, tests) would get this app's.
        @self.celery.task(  # type: ignore[untyped-decorator]
            name=task.name,
            bind=True,
            shared=False,
            # Not the app's FlaskTask: the runner enters the app context itself, and a
            # task class without its own __call__ takes Celery's shorter path.
            base=Task,
            acks_late=True,
            reject_on_worker_lost=True,
            **limits,
        )
        def run(celery_task: Task, job_id: str) -> None:
            backend.run(job_id)

        self._registered.add(task.name)

    def publish(self, job_id: str) -> bool:
        """Send the job's message now, from this process, if it is queued."""
        job = self.state.store.get(job_id)
        if job is None or job.state != JobState.QUEUED:
            return True
        return self._sender.send([(job_id, job.task, job.run_after, job.queue, job.priority)])

    def _start_publisher(self) -> None:
        c = self.state.app.config
        settings = publisher.PublisherSettings(
            database_url=c["HANDOFF_DATABASE_URL"],
            engine_options=dict(c["HANDOFF_ENGINE_OPTIONS"]),
            celery=celery_config(self.state),
            poll_interval=self.state.poll_interval,
            resend_after=self.resend_after,
            in_flight_per_key=self.in_flight_per_key,
        )
        if self._publisher is not None:  # one that ended: let its pipe go
            with contextlib.suppress(OSError):
                self._publisher.stdin.close()
        self._publisher = publisher.start(settings)
        self._pipe_fd = self._publisher.stdin.fileno()

    def _publish_loop(self) -> None:
        """This process's own sending, where no publisher process runs: batches of what
        waits, and a sweep once per ``HANDOFF_POLL_INTERVAL``."""
        while True:
            try:
                item = self._outbox.get(timeout=self._sender.seconds_to_sweep())
            except queue.Empty:
                item = None
            batch: list[publisher.Outgoing] = []
            revoked: list[str] = []
            while item is not None:
                if isinstance(item, publisher.Revocation):
                    revoked.append(item.message_id)
                    item = self._next_waiting()
                    continue
                batch.append(item)
                if len(batch) >= publisher.BATCH:
                    break
                item = self._next_waiting()
            self._safely(self._sender.deliver, batch, revoked)
            if self._stop.is_set() and self._outbox.empty():
                return
            self._safely(self._sender.sweep_if_due)

    def _next_waiting(self) -> _Outboxed | None:
        try:
            return self._outbox.get_nowait()
        except queue.Empty:
            return None

    # -- recovery, leases and cancellation (every process with the backend started) -------

    def _watch_loop(self) -> None:
        """Queue again the jobs whose worker died (any live process may), renew the leases
        of the jobs this process runs and pass on their cancellations, and restart the
        publisher process should it have died."""
        last_recovery = last_heartbeat = 0.0
        while not self._stop.wait(self.state.poll_interval):
            now = time.monotonic()
            if now - last_recovery >= self.state.lease_seconds / 4:
                last_recovery = now
                self._safely(recover_expired, self.state)
            self._safely(self.state.scheduler.tick)
            publisher_process = self._publisher
            if publisher_process is not None and publisher_process.poll() is not None:
                log.warning("handoff publisher process ended; starting another")
                with self._lock:
                    self._safely(self._start_publisher)
            with self._lock:
                running = dict(self._running)
            if not running:
                continue
            worker_id = _worker_id()
            if now - last_heartbeat >= self.state.lease_seconds / 4:
                last_heartbeat = now
                self._safely(
                    self.state.store.heartbeat, worker_id, self.state.lease_seconds, running
                )
            for job_id in self._safely(self.state.store.cancel_requested, worker_id) or ():
                ctx = running.get(job_id)
                if ctx is not None:
                    ctx.request_cancel()

    # -- running (Celery worker processes) ------------------------------------------------

    def run(self, job_id: str) -> None:
        """The Celery task's body: claim the job, run it with the shared runner."""
        worker_id = _worker_id()
        job = self.state.store.claim(job_id, worker_id, self.state.lease_seconds)
        if job is None:
            # Another delivery has it, or it ended: nothing to do. Delivered before it is
            # due (a clock ahead of this one's): send it again for when it is.
            waiting = self.state.store.get(job_id)
            early = waiting is not None and waiting.run_after > time.time()
            if early and waiting is not None and waiting.state == JobState.QUEUED:
                self.publish(job_id)
            return
        self._ensure_thread("watcher")
        with self._lock:
            self._running[job_id] = None
        soft_limit = _SoftLimitAfterCode()
        try:
            execute(
                self.state,
                job,
                worker_id,
                lambda ctx: self._task_code_runs(job_id, ctx, soft_limit),
            )
        finally:
            soft_limit.restore()
            with self._lock:
                self._running.pop(job_id, None)

    def _task_code_runs(
        self, job_id: str, ctx: JobContext | None, soft_limit: _SoftLimitAfterCode
    ) -> None:
        """The task's own code runs (``ctx``) or has returned (None): a cancel, and Celery's
        soft time limit, reach it only while it runs."""
        with self._lock:
            if job_id in self._running:
                self._running[job_id] = ctx
        if ctx is None:
            soft_limit.ignore()

    # -- threads and forks ----------------------------------------------------------------

    def _ensure_thread(self, name: str) -> None:
        """Start this process's ``watcher`` (recovery, leases, cancellations) or
        ``sender`` (sending from a thread, where no publisher process runs: two sweeps
        would send what the other sent but has not marked yet), once."""
        target = {"watcher": self._watch_loop, "sender": self._publish_loop}[name]
        with self._lock:
            if name in self._threads or self._stop.is_set():
                return
            thread = threading.Thread(target=target, name=f"handoff-{name}", daemon=True)
            thread.start()
            self._threads[name] = thread

    def _reset(self) -> None:
        self._outbox: queue.SimpleQueue[_Outboxed | None] = queue.SimpleQueue()
        self._threads: dict[str, threading.Thread] = {}
        self._running: dict[str, JobContext | None] = {}
        self._stop = threading.Event()
        self._publisher = None
        self._pipe_fd = None
        self._sender = publisher.Sender(
            self.state.store,
            self.celery,
            self.resend_after,
            self.state.poll_interval,
            in_flight_per_key=self.in_flight_per_key,
        )

    def _in_worker_process(self, **_: Any) -> None:
        """A prefork child: threads did not survive the fork, the publisher process and
        the pooled connections belong to the parent. The child sends its retries itself."""
        if self._publisher is not None:  # the parent's: this copy of its pipe must not
            with contextlib.suppress(OSError):  # keep it open once the parent is gone
                self._publisher.stdin.close()
        self._lock = threading.Lock()
        self._reset()
        self.state.store.engine.dispose(close=False)

    @staticmethod
    def _safely(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            outage.report(log, f"handoff chore {getattr(fn, '__name__', fn)}", exc)
            return None


class _SoftLimitAfterCode:
    """Celery's soft time limit is a signal (the prefork pool's ``SIGUSR1``) that raises
    ``SoftTimeLimitExceeded`` wherever the worker process is. It is meant for the task's
    code; once that has ended, it cut the writing of the job's outcome instead (a task
    that stopped itself at its timeout, as the limit fired), the job stayed running and
    the hard limit's kill failed it as ``WorkerLost``. So from then until the job's next
    state is written, the signal is ignored; the hard limit still applies."""

    def __init__(self) -> None:
        self._previous: Any = None

    def ignore(self) -> None:
        # Only the main thread may set a handler: the prefork pool runs tasks there.
        if _SOFT_LIMIT_SIGNAL is None or threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.signal(_SOFT_LIMIT_SIGNAL, signal.SIG_IGN)

    def restore(self) -> None:
        if self._previous is not None and _SOFT_LIMIT_SIGNAL is not None:
            signal.signal(_SOFT_LIMIT_SIGNAL, self._previous)
            self._previous = None


#: The signal billiard's pool sends for a soft time limit.
_SOFT_LIMIT_SIGNAL = getattr(signal, "SIGUSR1", None)


def _worker_id() -> str:
    return f"celery-{socket.gethostname()}-{os.getpid()}"


def _celery_app(state: HandoffState) -> Celery:
    """Built as Flask's "Background Tasks with Celery" page builds it: from the Flask app,
    with tasks that run inside ``app.app_context()``, kept in ``app.extensions``."""
    flask_app = state.app

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(flask_app.name, task_cls=FlaskTask)
    celery.config_from_object(celery_config(state))
    flask_app.extensions["celery"] = celery
    return celery
