"""One member's queue does not hold another's small job: with the one thread of the pool
busy with member A's forty uploads, member B's upload starts as soon as the job running
when it came has ended."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_handoff.testing import wait_for_job
from phonetool.extensions import handoff

from .conftest import AppFactory, add_member
from .test_service import upload

# The thread pool's line (the Celery side orders by its broker).
pytestmark = pytest.mark.runs_on(database="sqlite")


def forty_then_one(app: Flask, timeout: float) -> tuple[int, int]:
    """Alice uploads forty files, then bob one; all run to their end. Returns how many of
    alice's had begun when bob's came, and how many of hers started before his."""
    client = app.test_client()
    alice, bob = add_member(app, "alice@example.com"), add_member(app, "bob@example.com")

    theirs = [upload(client, alice).get_json()["job_id"] for _ in range(40)]
    mine = upload(client, bob).get_json()["job_id"]
    for job_id in [mine, *theirs]:
        wait_for_job(app, job_id, timeout=timeout)

    # Read from the jobs' own times, not sampled before bob's upload: while his request
    # ran, more of hers could begin, and the bound then missed them.
    with app.app_context():
        his = handoff.get_job(mine)
        hers = [handoff.get_job(j) for j in theirs]
    begun = sum(job.started_at < his.created_at for job in hers)
    before_mine = sum(job.started_at < his.started_at for job in hers)
    return begun, before_mine


def test_a_small_upload_starts_within_one_running_job_of_another_members_forty(
    make_app: AppFactory,
) -> None:
    app = make_app(HANDOFF_POOL_SIZE=1, PHONETOOL_MAX_ACTIVE_PER_MEMBER=50)

    begun, before_mine = forty_then_one(app, timeout=120)

    # Those of alice's begun when bob's came, and at most the one the thread was taking.
    assert before_mine <= begun + 1
    assert begun < 30  # most of alice's were still waiting: the test says something
