"""Where jobs run. Every backend takes job ids from the store, so task code never changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..job import DEFAULT_QUEUE

if TYPE_CHECKING:
    from ..extension import HandoffState
    from ..task import Task as HandoffTask

#: The longest ``shutdown`` waits, whatever its timeout, for the round of chores under
#: way (a recovery, a fill) to end: once it returns, no chore of this process touches the
#: table. Bounded, for a round stuck on an unreachable database.
CHORE_ROUND_SECONDS = 5.0


class Backend(Protocol):
    """What the extension, the runner and the CLI ask of a backend: all of it, written out
    here, so none of them asks whether a backend has something."""

    name: str
    #: Exceptions the engine raises in a task at its own time limit (Celery's soft limit),
    #: which the runner reports as ``JobTimeoutError``; none where the runner times jobs.
    timeout_errors: tuple[type[BaseException], ...]

    @property
    def worker_id(self) -> str:
        """Who claims jobs in this process: written on each job it runs."""

    def register(self, task: HandoffTask[Any, Any]) -> None:
        """A task was defined (also after ``init_app``): learn of it, if the engine needs
        to (Celery names its tasks)."""

    def start(self) -> None:
        """Begin taking work (and recover jobs a dead process left running)."""

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
        """A job was committed to the store as queued: run it at ``run_after`` (epoch
        seconds, as in its row; ``None``: now, and the backend reads the row if it needs
        it). ``task``: its task's name, when the caller has it (saves a read). ``key``:
        whose it is (the identity as stored), for a backend that shares fairly.
        ``queue`` and ``priority``: where it waits and its place there."""

    def cancelled(self, job_id: str, run_after: float) -> None:
        """A queued job was cancelled: drop what the backend holds for it, if anything
        (the store already keeps it from running)."""

    def wake(self) -> None:
        """Something became due (a retry): look at the store again."""

    def shutdown(self, timeout: float) -> None:
        """Take no new work; wait up to ``timeout`` s; leave unfinished jobs queued. The
        round of chores under way ends first (``CHORE_ROUND_SECONDS`` at most)."""

    def health(self) -> dict[str, str]:
        """What this process's part in running jobs looks like, quickly (a second at most):
        each part named: ``"ok"``, ``"off"`` or what is wrong (see ``Handoff.health``)."""


def make_backend(name: str, state: HandoffState) -> Backend:
    if name == "thread":
        from .thread import ThreadBackend

        return ThreadBackend(state)
    if name == "eager":
        from .eager import EagerBackend

        return EagerBackend(state)
    if name == "celery":
        from .celery import CeleryBackend

        return CeleryBackend(state)
    from ..errors import ConfigurationError

    raise ConfigurationError(
        f"HANDOFF_BACKEND is {name!r}; it must be 'thread' (the default), 'celery' or 'eager'."
    )
