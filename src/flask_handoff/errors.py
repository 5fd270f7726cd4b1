"""Every error Flask-Handoff raises, one class per condition, all under ``HandoffError``.

Messages follow Flask's own shape: what happened, why it usually happens, what to do.
"""

from __future__ import annotations


class HandoffError(Exception):
    """Base class: ``except HandoffError`` catches everything this extension raises."""


class ConfigurationError(HandoffError):
    """A ``HANDOFF_*`` setting is missing or wrong; raised by ``init_app``, naming the key."""


class NotInitializedError(HandoffError):
    """The extension is used in an app that never called ``init_app``."""

    def __init__(self) -> None:
        super().__init__(
            "Flask-Handoff is not initialized on the current application.\n\n"
            "Call handoff.init_app(app) in your application factory before submitting"
            " jobs or reading job state."
        )


class NoSuchJobError(HandoffError):
    """The job id is unknown (or belongs to someone the caller may not see)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"No job with id {job_id!r}.")
        self.job_id = job_id


class UnknownTaskError(HandoffError):
    """A stored job names a task this process never registered."""

    def __init__(self, task_name: str) -> None:
        super().__init__(
            f"No task named {task_name!r} is registered in this process.\n\n"
            "The worker must import the module that defines the task (the same application"
            " factory the web process uses) before it can run the job."
        )
        self.task_name = task_name


class JobArgumentError(HandoffError):
    """An argument given to ``submit`` cannot be stored with the job."""


class JobIdTakenError(JobArgumentError):
    """``submit(job_id=...)`` named an id another job has."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"job_id {job_id!r} is another job's: name each job once, or leave job_id out"
            " for a fresh one."
        )
        self.job_id = job_id


class JobContextError(HandoffError):
    """A task touched ``request`` or ``session``, which do not exist in a background job."""

    def __init__(self, task_name: str, touched: str, where: str | None = None) -> None:
        location = f" at {where}" if where else ""
        super().__init__(
            f"Task {task_name!r} touched flask.{touched}{location}, but a job runs outside of"
            " the request that submitted it.\n\n"
            "The response has already been sent, so there is no request to read. Read what"
            " the job needs at submit time instead: current_job.identity for the user,"
            " current_job.context[...] for values registered with @handoff.capture, or a"
            " plain argument to submit(). Code that must keep reading request headers can"
            f" declare the task with request_context=True to replay a snapshot of the"
            " request."
        )
        self.task_name = task_name
        self.touched = touched
        self.where = where


class JobTimeoutError(HandoffError):
    """A job ran longer than its task's ``timeout``."""

    def __init__(self, task_name: str, timeout: float) -> None:
        super().__init__(
            f"Task {task_name!r} ran longer than its timeout of {timeout:g} s and was stopped."
            " Raise the task's timeout=, or report progress with current_job.progress() so"
            " the job can stop cleanly at a checkpoint."
        )
        self.task_name = task_name
        self.timeout = timeout


class JobFailed(HandoffError):
    """Raise in a task to fail the job now, with this message, and no retries.

    For failures another attempt cannot fix, such as a bad input file::

        raise JobFailed("The file has no phone column.")
    """


class JobCancelled(HandoffError):
    """Raised inside a task at its next checkpoint after someone cancelled the job."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job {job_id} was cancelled.")
        self.job_id = job_id


class SecretsError(HandoffError):
    """Secrets cannot be encrypted or decrypted (missing or changed ``SECRET_KEY``)."""
