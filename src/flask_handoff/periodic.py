"""Periodic jobs: a task run on a schedule (a cron expression or a fixed interval), each
due run made once however many processes run, as an ordinary job.

Every process that runs jobs (the thread pool's ticker, a Celery process's watcher) looks
at the schedules once per ``HANDOFF_POLL_INTERVAL``; only when a due time has passed does
it touch the database. A run's job id is the schedule and its due time, so the table's
primary key lets one process insert it and no other. ``handoff_schedules`` keeps the last
due time each schedule ran for: a schedule seen for the first time starts at its next due
time; one whose due time passed while no process ran runs once at start, not once per
missed time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import ConfigurationError, JobIdTakenError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .extension import HandoffState

log = logging.getLogger("flask_handoff")


@dataclass(frozen=True)
class Schedule:
    """When to run ``task`` (its name) with ``args`` and ``kwargs``: on ``cron`` (five
    fields, in ``HANDOFF_TIMEZONE``) or ``every`` seconds (due at whole multiples of it
    since the epoch, so every process agrees on the times)."""

    name: str
    task: str
    cron: str | None = None
    every: float | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise ConfigurationError(
                f"Schedule {self.name!r}: give cron= (e.g. '0 3 * * *') or every="
                " (a timedelta or seconds), one of them."
            )
        if self.every is not None and not self.every > 0:
            raise ConfigurationError(f"Schedule {self.name!r}: every= must be positive.")
        if self.cron is not None:
            try:
                CronSim(self.cron, datetime.now())
            except CronSimError as exc:
                raise ConfigurationError(
                    f"Schedule {self.name!r}: {self.cron!r} is not a cron expression ({exc});"
                    " five fields: minute hour day-of-month month day-of-week."
                ) from None

    def last_due(self, now: float, zone: tzinfo) -> float:
        """The latest due time at or before ``now`` (epoch seconds)."""
        if self.every is not None:
            return math.floor(now / self.every) * self.every
        assert self.cron is not None
        # CronSim looks before the minute it is given: from the next minute, "now"'s own
        # minute counts when it is due.
        start = datetime.fromtimestamp(math.floor(now / 60) * 60 + 60, zone)
        return next(CronSim(self.cron, start, reverse=True)).timestamp()

    def job_id(self, due: float) -> str:
        """The id of the run due at ``due``: the same in every process."""
        digest = hashlib.sha1(self.name.encode(), usedforsecurity=False).hexdigest()[:12]
        return f"p-{digest}-{round(due)}"


def schedule_from_config(name: str, entry: Mapping[str, Any]) -> Schedule:
    """A ``HANDOFF_SCHEDULE`` entry: ``{"task": "module.name", "cron": "0 3 * * *"}`` or
    ``"every": seconds``, with optional ``"args"`` and ``"kwargs"``."""
    unknown = set(entry) - {"task", "cron", "every", "args", "kwargs"}
    if not isinstance(entry.get("task"), str) or unknown:
        raise ConfigurationError(
            f"HANDOFF_SCHEDULE[{name!r}] must name its task ('task': 'module.function')"
            " and give 'cron' or 'every', with optional 'args' and 'kwargs'"
            + (f"; {sorted(unknown)} is not one of them." if unknown else ".")
        )
    return Schedule(
        name=name,
        task=entry["task"],
        cron=entry.get("cron"),
        every=seconds(entry["every"]) if entry.get("every") is not None else None,
        args=tuple(entry.get("args", ())),
        kwargs=dict(entry.get("kwargs", {})),
    )


def seconds(every: timedelta | float) -> float:
    return every.total_seconds() if isinstance(every, timedelta) else float(every)


def timezone(name: str) -> tzinfo:
    if name == "UTC":  # needs no time zone database
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"HANDOFF_TIMEZONE {name!r} is not a time zone here; use an IANA name such as"
            " 'UTC' or 'Asia/Shanghai' (a machine without /usr/share/zoneinfo needs the"
            " tzdata package)."
        ) from None


class Scheduler:
    """Makes the due runs of one app's schedules; called by the backend's chore thread."""

    def __init__(
        self,
        state: HandoffState,
        shared: Mapping[str, Schedule],
        own: Mapping[str, Schedule],
        zone: tzinfo,
    ) -> None:
        self.state = state
        #: ``@handoff.periodic`` schedules (the live dict: ones defined later count too)
        #: and this app's ``HANDOFF_SCHEDULE``, which wins on a clash of names.
        self._shared = shared
        self._own = dict(own)
        self.zone = zone
        #: Per schedule, the due time this process is done with: until the next one
        #: passes, a look costs no query.
        self._done: dict[str, float] = {}
        self._missing_task: set[str] = set()

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for schedule in self.schedules().values():
            due = schedule.last_due(now, self.zone)
            if self._done.get(schedule.name, -math.inf) >= due:
                continue
            if self._run_if_due(schedule, due):
                self._done[schedule.name] = due

    def schedules(self) -> dict[str, Schedule]:
        return {**self._shared, **self._own}

    def _run_if_due(self, schedule: Schedule, due: float) -> bool:
        store = self.state.store
        last = store.schedule_last_due(schedule.name)
        if last is not None and last < due:
            task = self.state.ext.tasks.get(schedule.task)
            if task is None:
                if schedule.task not in self._missing_task:
                    self._missing_task.add(schedule.task)
                    log.error(
                        "schedule %r names task %r, which is not registered: import the"
                        " module that defines it before the app starts",
                        schedule.name,
                        schedule.task,
                    )
                return False
            # JobIdTakenError: another process made this run first.
            with contextlib.suppress(JobIdTakenError), self.state.app.app_context():
                task.submit(*schedule.args, job_id=schedule.job_id(due), **schedule.kwargs)
                log.info("schedule %r: run due %s queued", schedule.name, _iso(due))
        store.schedule_seen(schedule.name, due)
        return True


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")
