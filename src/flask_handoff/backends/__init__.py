"""Where jobs run. Every backend takes job ids from the store, so task code never changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..extension import HandoffState


class Backend(Protocol):
    """What the extension asks of a backend."""

    name: str

    def start(self) -> None:
        """Begin taking work (and recover jobs a dead process left running)."""

    def dispatch(self, job_id: str, run_after: float | None, task: str | None = None) -> None:
        """A job was committed to the store as queued: run it at ``run_after`` (epoch
        seconds, as in its row; ``None``: now, and the backend reads the row if it needs
        it). ``task``: its task's name, when the caller has it (saves a read)."""

    def cancelled(self, job_id: str, run_after: float) -> None:
        """A queued job was cancelled: drop what the backend holds for it, if anything
        (the store already keeps it from running)."""

    def wake(self) -> None:
        """Something became due (a retry): look at the store again."""

    def shutdown(self, timeout: float) -> None:
        """Take no new work; wait up to ``timeout`` s; leave unfinished jobs queued."""


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
