"""The default backend: a pool of threads in the web process, with the store as the truth.

Dispatch is in memory (a queue of job ids, so a pending job costs a few hundred bytes and no
open file); durability comes from the store. ``HANDOFF_QUEUES`` splits the threads into
lines: a queue named there has threads of its own, ``"*"`` takes every queue not named,
and a queue this process has no line for waits in the store for a process that has.

A ticker thread does the slow chores: renews this worker's leases, re-queues jobs whose
worker died (at-least-once), picks up jobs that became due (retries, jobs submitted by
other processes), and delivers cancellation and timeouts to running tasks.

Timeouts in threads: Python cannot kill a thread. At the deadline the job is flagged, and
its next ``current_job.progress()`` or ``check()`` raises ``JobTimeoutError``. If the task
is still running ``HANDOFF_TIMEOUT_GRACE`` seconds later, an exception is raised inside
its thread (``PyThreadState_SetAsyncExc``); it is delivered at the next Python bytecode,
so code blocked inside one C call (a socket read) stops only when that call returns, and
the extension's own database work finishes first (:mod:`..forced`). A stop that did not
end the task (one swallowed by a garbage collector's callback) is raised again each grace
period.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

from .. import outage
from ..fair import FairQueue
from ..forced import ForcedStop
from ..job import DEFAULT_QUEUE
from ..recovery import recover_expired
from ..runner import execute
from . import CHORE_ROUND_SECONDS

if TYPE_CHECKING:
    from ..context import JobContext
    from ..extension import HandoffState
    from ..task import Task as HandoffTask

log = logging.getLogger("flask_handoff")


#: The line of every queue not named in ``HANDOFF_QUEUES``.
EVERY_OTHER_QUEUE = "*"


class _Running:
    __slots__ = ("ctx", "forced_at", "line", "stop")

    def __init__(self, line: str) -> None:
        self.line = line
        self.ctx: JobContext | None = None
        self.stop = ForcedStop()
        #: When the task was last stopped by force (monotonic); None: not yet.
        self.forced_at: float | None = None


class ThreadBackend:
    name = "thread"
    timeout_errors: tuple[type[BaseException], ...] = ()  # the runner times jobs itself

    def __init__(self, state: HandoffState) -> None:
        self.state = state
        #: Threads per line: a queue's own, or EVERY_OTHER_QUEUE's.
        self.sizes: dict[str, int] = dict(state.queues)
        self.worker_id = f"thread-{uuid.uuid4().hex[:12]}"
        #: Per line, the jobs waiting for its threads: by priority, then fairly across
        #: submitters (fair.py).
        self._lines: dict[str, FairQueue] = {}
        #: Job id -> its line, while it waits for a thread.
        self._pending: dict[str, str] = {}
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        #: The ticker's chores are wanted now (``wake()``), not only another fill.
        self._chores_wanted = True
        #: Lines whose last fill found as many due jobs as it asked for: the store may hold
        #: more, so a thread that empties its line asks for more at once, not at the next
        #: poll (a worker process running other processes' jobs ran a few per poll).
        self._store_has_more: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._ticker: threading.Thread | None = None
        self._started = False

    # -- lifecycle ------------------------------------------------------------------------

    def register(self, task: HandoffTask[Any, Any]) -> None:
        """Nothing to learn: jobs name their task, looked up when they run."""

    def health(self) -> dict[str, str]:
        if not self._started:
            return {"workers": "off"}  # HANDOFF_AUTOSTART is off: jobs run elsewhere
        alive = sum(t.is_alive() for t in self._threads)
        if self._stop.is_set() or alive < len(self._threads):
            return {"workers": f"{alive} of {len(self._threads)} threads alive"}
        return {"workers": "ok"}

    def start(self) -> None:
        with self._lock:
            if self._started or self._stop.is_set():
                return
            self._started = True
            self._lines = {line: FairQueue(self.state.max_running_per_key) for line in self.sizes}
        recover_expired(self.state)
        for line, size in self.sizes.items():
            for i in range(size):
                t = threading.Thread(
                    target=self._work, args=(line,), name=f"handoff-{line}-{i}", daemon=True
                )
                t.start()
                self._threads.append(t)
        self._ticker = threading.Thread(target=self._tick_loop, name="handoff-ticker", daemon=True)
        self._ticker.start()
        self._threads.append(self._ticker)
        self._wake.set()

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
        later = run_after is not None and run_after > time.time()
        line = self.line_of(queue)
        if not self._started or self._stop.is_set() or later or line is None:
            # Durable already: a worker process (or this one's ticker, once due) takes it.
            return
        self._enqueue(job_id, key, line, priority)

    def line_of(self, queue: str) -> str | None:
        """The line whose threads run this queue's jobs here; None: none here."""
        if queue in self.sizes:
            return queue
        return EVERY_OTHER_QUEUE if EVERY_OTHER_QUEUE in self.sizes else None

    def cancelled(self, job_id: str, run_after: float) -> None:
        pass  # the pool takes job ids from the store, which no longer offers this one

    def wake(self) -> None:
        self._chores_wanted = True
        self._wake.set()

    def shutdown(self, timeout: float) -> None:
        """Stop taking work, give running jobs ``timeout`` s, re-queue what is left."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        for line, waiting in self._lines.items():
            for _ in range(self.sizes[line]):
                waiting.stop_one()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            left = deadline - time.monotonic()
            # The ticker's round under way ends first, whatever the timeout (bounded).
            t.join(max(CHORE_ROUND_SECONDS, left) if t is self._ticker else max(0.0, left))
        with self._lock:
            unfinished = list(self._running)
        if unfinished:
            released = self.state.store.release(self.worker_id, unfinished)
            log.warning(
                "shutdown: %d job(s) still running after %.1f s were put back in the queue",
                released,
                timeout,
            )

    @property
    def running_count(self) -> int:
        with self._lock:
            return len(self._running)

    # -- workers --------------------------------------------------------------------------

    def _enqueue(self, job_id: str, key: str | None, line: str, priority: int) -> None:
        with self._lock:
            if job_id in self._pending or job_id in self._running:
                return
            self._pending[job_id] = line
        self._lines[line].put(job_id, key, priority)

    def _work(self, line: str) -> None:
        waiting = self._lines[line]
        while True:
            taken = waiting.get()
            if taken is None or self._stop.is_set():
                return
            job_id, key = taken
            try:
                self._run_one(job_id, line)
            finally:
                waiting.done(key)
            if line in self._store_has_more and waiting.empty():
                self._wake.set()  # a fill, not the chores (_tick_loop)

    def _run_one(self, job_id: str, line: str) -> None:
        with self._lock:
            self._pending.pop(job_id, None)
            self._running[job_id] = _Running(line)
        try:
            job = self.state.store.claim(job_id, self.worker_id, self.state.lease_seconds)
            if job is not None:
                execute(self.state, job, self.worker_id, partial(self._task_code_runs, job_id))
        except Exception as exc:  # the job stays queued, or its lease runs out: recovered
            outage.report(log, f"handoff worker (job {job_id})", exc)
        finally:
            with self._lock:
                self._running.pop(job_id, None)

    def _task_code_runs(self, job_id: str, ctx: JobContext | None) -> None:
        """Track whether user code runs (called in the job's thread), so a forced timeout
        never lands in the runner's code around it."""
        with self._lock:
            entry = self._running.get(job_id)
            if entry is None:
                return
            entry.ctx = ctx
            if ctx is not None:
                entry.stop.arm()
            else:
                entry.stop.disarm()

    # -- the ticker -----------------------------------------------------------------------

    def _tick_loop(self) -> None:
        last_heartbeat = last_chores = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.state.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                now = time.monotonic()
                if not self._chores_wanted and now - last_chores < self.state.poll_interval:
                    self._fill()  # a thread emptied its line: only more jobs are wanted
                    continue
                self._chores_wanted = False
                last_chores = now
                if now - last_heartbeat >= self.state.lease_seconds / 4:
                    last_heartbeat = now
                    with self._lock:
                        running = list(self._running)
                    self.state.store.heartbeat(self.worker_id, self.state.lease_seconds, running)
                    recover_expired(self.state)
                self._deliver_cancellations()
                self._enforce_timeouts()
                self.state.scheduler.tick()
                self._fill()
                self.state.store.checkpoint()
            except Exception as exc:
                outage.report(log, "handoff ticker", exc)

    def _fill(self) -> None:
        """Take due jobs from the store (retries, jobs submitted by other processes) for
        each line with threads to spare."""
        named = [line for line in self.sizes if line != EVERY_OTHER_QUEUE]
        for line, size in self.sizes.items():
            with self._lock:
                running = sum(e.line == line for e in self._running.values())
                waiting = sum(pending == line for pending in self._pending.values())
            if size - running - waiting <= 0:
                continue
            # Asked for the waiting ones too, which are still queued in the store and
            # come first: what comes after them is new.
            asked = size - running
            if line == EVERY_OTHER_QUEUE:
                due = self.state.store.due(asked, exclude_queues=named)
            else:
                due = self.state.store.due(asked, queues=[line])
            for job_id, key, priority in due:
                if job_id not in self.state.submitting:  # its hand-off enqueues it
                    self._enqueue(job_id, key, line, priority)
            if len(due) == asked:
                self._store_has_more.add(line)
            else:
                self._store_has_more.discard(line)

    def _deliver_cancellations(self) -> None:
        with self._lock:
            if not self._running:
                return
        for job_id in self.state.store.cancel_requested(self.worker_id):
            with self._lock:
                entry = self._running.get(job_id)
                if entry and entry.ctx:
                    entry.ctx.request_cancel()

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        with self._lock:
            for entry in self._running.values():
                ctx = entry.ctx
                if ctx is None or ctx.deadline is None or now < ctx.deadline:
                    continue
                ctx.mark_timed_out()
                if now >= (entry.forced_at or ctx.deadline) + self.state.timeout_grace:
                    entry.forced_at = now
                    entry.stop.force()
