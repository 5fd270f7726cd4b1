"""The job table, as this release's code uses it: one module that holds it, read by the
store (which changes rows) and by the migrations (which compare and build the table),
so neither imports the other for it."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

jobs_table = Table(
    "handoff_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("task", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("identity", String(200), index=True),
    Column("actor", String(16), nullable=False),
    Column("args", Text, nullable=False),
    Column("snapshot", Text, nullable=False),
    Column("files", Text),
    Column("secrets", Text),
    Column("progress_done", Integer, nullable=False, default=0),
    Column("progress_total", Integer),
    Column("progress_message", String(500)),
    Column("result", Text),
    Column("error_type", String(200)),
    Column("error_message", Text),
    Column("error_traceback", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("timeout", Float),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("request_id", String(200)),
    Column("parent_id", String(32)),
    Column("worker_id", String(100)),
    Column("run_after", Float, nullable=False),
    Column("lease_until", Float),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("updated_at", Float, nullable=False),
    # The Celery backend's outbox: NULL while a queued job's message is not yet with the
    # broker (submitted, retried, recovered); the thread backend leaves it alone.
    Column("published_at", Float),
    # Which line the job waits in (a Celery queue, or threads of its own) and its place
    # there: a higher priority runs before a lower one that waits.
    Column("queue", String(100), nullable=False, server_default="default"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Index("ix_handoff_jobs_state_run_after", "state", "run_after"),
    # Event streams read the jobs a job submitted (its mail, say) by their parent.
    Index("ix_handoff_jobs_parent_id", "parent_id"),
)

#: One row per periodic schedule: the last due time a job was made for (or, on its first
#: sight, the due time it was first seen at). It tells a new schedule, which starts at
#: its next due time, from one whose run was missed while no process ran, which runs
#: once at start.
schedules_table = Table(
    "handoff_schedules",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("last_due", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
