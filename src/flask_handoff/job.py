"""``Job``: one stored job as callers see it — state, progress, result, error, owner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .snapshot import Snapshot

if TYPE_CHECKING:
    from collections.abc import Mapping


class JobState(StrEnum):
    """A job's state. Each is the text stored in the table and sent in the API, and
    compares equal to it: ``job.state == JobState.FAILED`` whether ``job`` was read from
    the table or built here."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


QUEUED = JobState.QUEUED
RUNNING = JobState.RUNNING
SUCCEEDED = JobState.SUCCEEDED
FAILED = JobState.FAILED
CANCELLED = JobState.CANCELLED
FINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})
STATES = tuple(state.value for state in JobState)


#: The queue of a job whose task and submit name none. On Celery it is the app's
#: ``task_default_queue``, so workers started without ``--queues`` take it.
DEFAULT_QUEUE = "default"


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def identity_key(identity: Any) -> str | None:
    """The identity as the job table stores it (``handoff_jobs.identity``): what listings
    filter by and what the thread pool shares its threads by."""
    return None if identity is None else str(identity)[:200]


@dataclass(frozen=True)
class Job:
    """A read-only view of a job row. Re-read it (``handoff.get_job``) to see new state."""

    id: str
    task: str
    state: str
    identity: Any
    actor: str
    args: list[Any]
    kwargs: dict[str, Any]
    snapshot: Snapshot
    files: dict[str, dict[str, Any]]
    has_secrets: bool
    progress_done: int
    progress_total: int | None
    progress_message: str | None
    result: Any
    error_type: str | None
    error_message: str | None
    error_traceback: str | None
    attempts: int
    max_attempts: int
    timeout: float | None
    cancel_requested: bool
    request_id: str | None
    parent_id: str | None
    worker_id: str | None
    run_after: float
    lease_until: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float
    queue: str = DEFAULT_QUEUE
    priority: int = 0

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls.from_values(row._mapping)

    @classmethod
    def from_values(
        cls,
        m: Mapping[str, Any],
        snapshot: Snapshot | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Job:
        """Build from a row's columns; ``snapshot`` and ``payload`` (the arguments) skip
        re-parsing what the caller has in hand."""
        if payload is None:
            payload = json.loads(m["args"]) if m["args"] else {}
        snapshot = snapshot or Snapshot.from_json(m["snapshot"])
        return cls(
            id=m["id"],
            task=m["task"],
            state=m["state"],
            identity=snapshot.identity,
            actor=m["actor"],
            args=payload.get("args", []),
            kwargs=payload.get("kwargs", {}),
            snapshot=snapshot,
            files=json.loads(m["files"]) if m["files"] else {},
            has_secrets=m["secrets"] is not None,
            progress_done=m["progress_done"],
            progress_total=m["progress_total"],
            progress_message=m["progress_message"],
            result=json.loads(m["result"]) if m["result"] is not None else None,
            error_type=m["error_type"],
            error_message=m["error_message"],
            error_traceback=m["error_traceback"],
            attempts=m["attempts"],
            max_attempts=m["max_attempts"],
            timeout=m["timeout"],
            cancel_requested=bool(m["cancel_requested"]),
            request_id=m["request_id"],
            parent_id=m["parent_id"],
            worker_id=m["worker_id"],
            run_after=m["run_after"],
            lease_until=m["lease_until"],
            created_at=m["created_at"],
            started_at=m["started_at"],
            finished_at=m["finished_at"],
            updated_at=m["updated_at"],
            queue=m["queue"],
            priority=m["priority"],
        )

    def to_dict(self, *, detail: bool = False) -> dict[str, Any]:
        """The public shape used by the status API; never includes secrets.

        ``detail`` adds arguments and the traceback, for operators (the CLI), not end users.
        """
        data: dict[str, Any] = {
            "id": self.id,
            "task": self.task,
            "state": self.state,
            "identity": self.identity,
            "progress": {
                "done": self.progress_done,
                "total": self.progress_total,
                "message": self.progress_message,
            },
            "result": self.result,
            "error": (
                {"type": self.error_type, "message": self.error_message}
                if self.error_type
                else None
            ),
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "cancel_requested": self.cancel_requested,
            "request_id": self.request_id,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }
        if detail:
            data["args"] = self.args
            data["kwargs"] = self.kwargs
            data["files"] = {k: v.get("filename") for k, v in self.files.items()}
            data["actor"] = self.actor
            data["worker_id"] = self.worker_id
            data["parent_id"] = self.parent_id
            data["queue"] = self.queue
            data["priority"] = self.priority
            if self.error_type:
                data["error"]["traceback"] = self.error_traceback
        return data
