"""Flask-Handoff: context-safe, durable background jobs for Flask."""

from .context import ANONYMOUS, JobContext, SpooledFile, current_job, has_job_context, identity
from .errors import (
    ConfigurationError,
    HandoffError,
    JobArgumentError,
    JobCancelled,
    JobContextError,
    JobFailed,
    JobIdTakenError,
    JobTimeoutError,
    NoSuchJobError,
    NotInitializedError,
    SecretsError,
    UnknownTaskError,
)
from .extension import Handoff
from .job import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job
from .signals import (
    job_cancelled,
    job_failed,
    job_retried,
    job_started,
    job_submitted,
    job_succeeded,
)
from .snapshot import Snapshot
from .task import Task

__all__ = [
    "ANONYMOUS",
    "CANCELLED",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "ConfigurationError",
    "Handoff",
    "HandoffError",
    "Job",
    "JobArgumentError",
    "JobCancelled",
    "JobContext",
    "JobContextError",
    "JobFailed",
    "JobIdTakenError",
    "JobTimeoutError",
    "NoSuchJobError",
    "NotInitializedError",
    "SecretsError",
    "Snapshot",
    "SpooledFile",
    "Task",
    "UnknownTaskError",
    "current_job",
    "has_job_context",
    "identity",
    "job_cancelled",
    "job_failed",
    "job_retried",
    "job_started",
    "job_submitted",
    "job_succeeded",
]
