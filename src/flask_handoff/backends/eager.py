"""Run each job inline at submit, for tests — but as a job, not as part of the request.

The task runs in an empty ``contextvars.Context``, so a task that reads ``request`` fails
here exactly as it would on a worker thread instead of passing by accident. Retries run at
once, without the backoff wait.
"""

from __future__ import annotations

import contextvars
import uuid
from typing import TYPE_CHECKING, Any

from ..job import DEFAULT_QUEUE
from ..runner import execute

if TYPE_CHECKING:
    from ..extension import HandoffState
    from ..task import Task as HandoffTask


class EagerBackend:
    name = "eager"
    timeout_errors: tuple[type[BaseException], ...] = ()  # the runner times jobs itself

    def __init__(self, state: HandoffState) -> None:
        self.state = state
        self.worker_id = f"eager-{uuid.uuid4().hex[:8]}"

    def register(self, task: HandoffTask[Any, Any]) -> None:
        """Nothing to learn: jobs name their task, looked up when they run."""

    def health(self) -> dict[str, str]:
        return {}  # jobs run in the request that submits them

    def start(self) -> None:
        pass

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
        # Each pass runs one attempt; a failed attempt leaves the job queued with a backoff,
        # which an eager run does not wait for.
        while (job := self.state.store.claim(job_id, self.worker_id, 3600, early=True)) is not None:
            contextvars.Context().run(execute, self.state, job, self.worker_id)

    def cancelled(self, job_id: str, run_after: float) -> None:
        pass

    def wake(self) -> None:
        pass

    def shutdown(self, timeout: float) -> None:
        pass
