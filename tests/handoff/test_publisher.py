"""The publisher's pacing when what it depends on is away: one try per interval, never
a busy loop (with PostgreSQL stopped for 12 s, a failing sweep that never set the next
one's time logged 4,808 tracebacks, 35 MB)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from flask_handoff.backends.celery.publisher import Sender
from flask_handoff.store import JobStore, make_engine


class CountingStore(JobStore):
    """A real store, counting how often the sweep reads the table."""

    reads = 0

    def unpublished(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return super().unpublished(*args, **kwargs)


def test_a_sweep_that_fails_waits_its_interval_before_the_next(tmp_path: Path) -> None:
    # A database that cannot be opened: its folder does not exist.
    away = CountingStore(make_engine(f"sqlite:///{tmp_path / 'gone' / 'jobs.sqlite3'}"))
    sender = Sender(away, celery=None, resend_after=600, poll_interval=0.2)
    failures = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # as the publisher's loop goes round
        try:
            sender.sweep_if_due()
        except Exception:
            failures += 1
        time.sleep(sender.seconds_to_sweep() or 0.001)

    assert failures >= 1  # it did try, and the database was away
    assert away.reads <= 6  # one a 0.2 s interval, not one a round


def test_an_outage_is_one_line_per_round_a_bug_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy.exc import OperationalError

    from flask_handoff import outage

    log = logging.getLogger("flask_handoff")
    away = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    with caplog.at_level(logging.WARNING, logger="flask_handoff"):
        outage.report(log, "publisher round", away)
        outage.report(log, "publisher round", ValueError("a bug"))

    weather, bug = caplog.records
    assert weather.levelno == logging.WARNING
    assert weather.exc_info is None
    assert "publisher round failed, trying again next round: OperationalError" in weather.message
    assert "\n" not in weather.getMessage()
    assert bug.levelno == logging.ERROR
    assert bug.exc_info is not None
