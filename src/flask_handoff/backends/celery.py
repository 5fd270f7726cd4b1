"""Celery as the engine: the same jobs, run by Celery workers on any machine.

The store stays the single source of truth; a Celery message only says "job <id> may be
due now". So identity, snapshot, secrets, files, state, progress, results, the status API
and access rules are the same as on threads, and the same runner (``execute``) runs the
task body.

**Off the broker's clock.** ``submit()`` commits the row and puts the id on an in-memory
queue; a publisher thread sends the message and marks the row published. A request never
waits on Redis, and Redis down means "accepted, runs when Redis is back": the row is the
outbox. Rows that stay unpublished (the process died between commit and publish, the
broker was down, a retry or a recovery queued the job again) are found by a sweep in every
process that has the backend started, and published then.

**At-least-once on Celery's terms.** Messages are acknowledged after the task
(``acks_late``) and given back when a worker process dies (``reject_on_worker_lost``); the
claim (``UPDATE ... WHERE state='queued'``) keeps a second delivery from running a job
twice at once. Each worker process renews the leases of the jobs it runs and passes on
cancellations; a job whose worker died is queued again (and published) by any live
process when its lease runs out. Retries are published with a countdown of the same
backoff as on threads. A task's ``timeout`` becomes Celery's ``soft_time_limit`` (raising
``JobTimeoutError`` in the task) and a hard ``time_limit`` ``HANDOFF_TIMEOUT_GRACE`` later,
which kills the worker process (prefork pool).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from ..runner import execute

if TYPE_CHECKING:
    from ..context import JobContext
    from ..extension import HandoffState
    from ..task import Task as HandoffTask

log = logging.getLogger("flask_handoff")

#: Seconds a queued row must stay unpublished before a sweep publishes it: the process
#: that committed it is normally done within milliseconds.
SETTLE_SECONDS = 2.0


def celery_config(state: HandoffState) -> dict[str, Any]:
    """Celery settings for Handoff's guarantees, under the app's ``HANDOFF_CELERY``."""
    c = state.app.config
    longest = max(
        [t.timeout or 0 for t in state.ext.tasks.values()] + [state.default_timeout or 0, 3600]
    )
    return {
        "broker_url": c["HANDOFF_CELERY_BROKER_URL"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,  # results live in the store
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        # Redis gives an unacknowledged message to another worker after this long: longer
        # than the longest task, or a slow job would run twice.
        "broker_transport_options": {"visibility_timeout": int(longest * 2 + 600)},
        **dict(c["HANDOFF_CELERY"]),
    }


class CeleryBackend:
    name = "celery"
    _broker_down: bool
    _last_recovery: float

    def __init__(self, state: HandoffState) -> None:
        self.state = state
        #: Raised in a task at its soft time limit; the runner reports ``JobTimeoutError``.
        self.timeout_errors: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded,)
        self.celery = _celery_app(state)
        self._registered: set[str] = set()
        for task in list(state.ext.tasks.values()):
            self.register(task)
        self._lock = threading.Lock()
        self._reset_after_fork()
        worker_process_init.connect(self._in_worker_process, weak=False)

    # -- publishing (every process) -------------------------------------------------------

    def start(self) -> None:
        self._ensure_threads()

    def dispatch(self, job_id: str, delay: float | None) -> None:
        self._ensure_threads()
        self._outbox.put(job_id)

    def wake(self) -> None:
        self._wake.set()

    def shutdown(self, timeout: float) -> None:
        """Publish what is waiting (within ``timeout``) and stop; running tasks belong to
        the Celery worker, which hands its unfinished messages back itself."""
        self._stop.set()
        self._wake.set()
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout)

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

        @self.celery.task(  # type: ignore[untyped-decorator]
            name=task.name, bind=True, acks_late=True, reject_on_worker_lost=True, **limits
        )
        def run(celery_task: Task, job_id: str) -> None:
            backend.run(job_id)

        self._registered.add(task.name)

    def publish(self, job_id: str) -> bool:
        """Send the job's message if it is queued; False if the broker refused."""
        job = self.state.store.get(job_id)
        if job is None or job.state != "queued":
            return True
        if job.task not in self._registered and job.task in self.state.ext.tasks:
            self.register(self.state.ext.tasks[job.task])
        countdown = max(0.0, job.run_after - time.time())
        try:
            self.celery.send_task(job.task, args=[job_id], countdown=countdown or None, retry=False)
        except Exception as exc:
            if not self._broker_down:
                log.warning("broker unreachable; jobs stay queued and are sent later: %s", exc)
            self._broker_down = True
            return False
        if self._broker_down:
            log.warning("broker reachable again; sending the jobs that waited")
        self._broker_down = False
        self.state.store.mark_published(job_id)
        return True

    def sweep(self) -> None:
        """Publish what was committed but never sent, and queue again the jobs whose
        worker died."""
        now = time.time()
        if now - self._last_recovery >= self.state.lease_seconds / 4:
            self._last_recovery = now
            requeued, failed = self.state.store.recover_expired()
            for job_id in failed:
                log.error("job %s lost its worker on its last attempt; failed", job_id)
                self.state.spool.remove(job_id)
            for job_id in requeued:
                log.warning("job %s lost its worker; queued again", job_id)
        for job_id in self.state.store.unpublished(now - SETTLE_SECONDS):
            if not self.publish(job_id):
                return  # broker down: try again on the next sweep

    def _publish_loop(self) -> None:
        interval = self.state.poll_interval
        next_sweep = time.monotonic()
        while True:
            try:
                job_id = self._outbox.get(timeout=max(0.0, next_sweep - time.monotonic()))
            except queue.Empty:
                job_id = None
            if job_id is not None:
                self._safely(self.publish, job_id)
            if self._stop.is_set() and self._outbox.empty():
                return
            if time.monotonic() >= next_sweep:
                self._safely(self.sweep)
                next_sweep = time.monotonic() + interval * (5 if self._broker_down else 1)

    # -- running (Celery worker processes) ------------------------------------------------

    def run(self, job_id: str) -> None:
        """The Celery task's body: claim the job, run it with the shared runner."""
        worker_id = f"celery-{socket.gethostname()}-{os.getpid()}"
        job = self.state.store.claim(job_id, worker_id, self.state.lease_seconds)
        if job is None:
            # Another delivery has it, or it ended: nothing to do. Delivered before it is
            # due (a clock ahead of this one's): send it again for when it is.
            waiting = self.state.store.get(job_id)
            if (
                waiting is not None
                and waiting.state == "queued"
                and waiting.run_after > time.time()
            ):
                self.publish(job_id)
            return
        self._ensure_threads()
        with self._lock:
            self._running[job_id] = None
        try:
            execute(self.state, job, worker_id, lambda ctx: self._body(job_id, ctx))
        finally:
            with self._lock:
                self._running.pop(job_id, None)

    def _body(self, job_id: str, ctx: JobContext | None) -> None:
        with self._lock:
            if job_id in self._running:
                self._running[job_id] = ctx

    def _watch_loop(self) -> None:
        """Renew this process's leases and pass on cancellations, while it runs jobs."""
        last_heartbeat = 0.0
        while not self._stop.wait(self.state.poll_interval):
            with self._lock:
                running = dict(self._running)
            if not running:
                continue
            worker_id = f"celery-{socket.gethostname()}-{os.getpid()}"
            now = time.monotonic()
            if now - last_heartbeat >= self.state.lease_seconds / 4:
                last_heartbeat = now
                self._safely(self.state.store.heartbeat, worker_id, self.state.lease_seconds)
            for job_id in self._safely(self.state.store.cancel_requested, worker_id) or ():
                ctx = running.get(job_id)
                if ctx is not None:
                    ctx.request_cancel()

    # -- threads and forks ----------------------------------------------------------------

    def _ensure_threads(self) -> None:
        with self._lock:
            if self._threads or self._stop.is_set():
                return
            for target, name in (
                (self._publish_loop, "handoff-publisher"),
                (self._watch_loop, "handoff-watcher"),
            ):
                thread = threading.Thread(target=target, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _reset_after_fork(self) -> None:
        self._outbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, JobContext | None] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._broker_down = False
        self._last_recovery = 0.0

    def _in_worker_process(self, **_: Any) -> None:
        """A prefork child: threads did not survive the fork, and pooled connections
        belong to the parent."""
        self._lock = threading.Lock()
        self._reset_after_fork()
        self.state.store.engine.dispose(close=False)

    @staticmethod
    def _safely(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:
            log.exception("handoff background chore failed; retrying on the next round")
            return None


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
