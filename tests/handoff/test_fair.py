"""The thread pool shares its threads fairly across submitters: one user's hundred queued
jobs do not hold another's one; each user's own jobs keep their order."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from flask_handoff.fair import FairQueue, release_order
from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import bearer

# The thread pool's line; Celery workers take messages in the broker's order.
pytestmark = pytest.mark.runs_on(database="sqlite", backend="thread")


def test_the_line_serves_keys_in_turn_and_each_keys_jobs_in_order() -> None:
    line = FairQueue()
    for key in "abc":
        for i in range(100):
            line.put(f"{key}{i}", key)

    served = []
    while (taken := line.get()) is not None:
        served.append(taken[0])
        line.done(taken[1])
        if len(served) == 300:
            break

    assert served[:6] == ["a0", "b0", "c0", "a1", "b1", "c1"]
    for key in "abc":
        assert [s for s in served if s[0] == key] == [f"{key}{i}" for i in range(100)]


def test_a_key_with_jobs_running_waits_behind_one_with_none() -> None:
    line = FairQueue()
    line.put("a0", "a")
    line.put("a1", "a")
    first = line.get()  # a0 runs, not done yet
    line.put("b0", "b")

    assert first == ("a0", "a")
    assert line.get() == ("b0", "b")  # b has nothing running: b before a's next


def test_stopping_wakes_a_waiting_thread() -> None:
    line = FairQueue()
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(line.get()))
    waiter.start()
    time.sleep(0.05)
    line.stop_one()
    waiter.join(5)

    assert got == [None]


def test_three_users_hundred_queued_jobs_each_interleave(make_app: Any) -> None:
    app = make_app(HANDOFF_POOL_SIZE=1)
    with app.test_request_context(headers=bearer("gate")):
        holding = sample.hold.submit()  # the one thread is busy while the line fills
    ids = []
    for user in ("alice", "bob", "carol"):
        with app.test_request_context(headers=bearer(user)):
            ids += [sample.record_turn.submit().id for _ in range(100)]
    sample.GATE.set()
    for job_id in [holding.id, *ids]:
        wait_for_job(app, job_id, timeout=60)

    turns = sample.TURNS
    assert len(turns) == 300
    # Alice submitted all hers first, yet bob and carol are served from the start.
    assert turns[:6] == ["alice", "bob", "carol"] * 2
    assert all(turns[i : i + 3].count("alice") == 1 for i in range(0, 300, 3))


def test_the_release_order_is_round_robin_within_each_keys_cap() -> None:
    waiting = [("a", f"a{i}") for i in range(3)] + [("b", "b0"), ("b", "b1"), ("c", "c0")]

    assert release_order(waiting, {}, cap=1) == ["a0", "b0", "c0"]
    assert release_order(waiting, {}, cap=2) == ["a0", "b0", "c0", "a1", "b1"]
    assert release_order(waiting, {"a": 1, "c": 5}, cap=2) == ["a0", "b0", "b1"]


@pytest.mark.runs_on(database="postgresql", backend="celery")
def test_on_celery_three_users_hundred_queued_jobs_each_interleave(make_app: Any) -> None:
    app = make_app(HANDOFF_CELERY_IN_FLIGHT_PER_KEY=1)
    ids = []
    # All 300 due at one moment, after the last is stored: a delay counted from each
    # submit would make alice's hundred due first on a machine slow to store them.
    due = time.time() + 8
    with app.app_context():
        for user in ("alice", "bob", "carol"):
            ids += [
                sample.record_turn.submit(identity=user, delay=due - time.time()).id
                for _ in range(100)
            ]
    assert time.time() < due, "storing 300 jobs took longer than the delay meant to hold them"
    for job_id in ids:
        wait_for_job(app, job_id, timeout=120)

    turns = sample.TURNS
    assert len(turns) == 300
    # In the broker's order alice's hundred would all come first; released fairly, the
    # three take turns from the start. A turn is a round of releases, not a strict order:
    # a job that ran but whose row still says running at a release waits for the next
    # round, and a worker thread may run a later round's job before an earlier one's.
    assert {"alice", "bob", "carol"} <= set(turns[:6]), turns[:6]
    first_third = turns[:90]
    assert min(first_third.count(user) for user in ("alice", "bob", "carol")) >= 20, turns


def test_a_capped_key_waits_while_another_keys_job_is_taken() -> None:
    line = FairQueue(cap=1)
    line.put("a0", "a")
    line.put("a1", "a")
    line.put("b0", "b")
    first, second = line.get(), line.get()
    third: list[Any] = []
    waiter = threading.Thread(target=lambda: third.append(line.get()))
    waiter.start()
    time.sleep(0.1)
    waited = list(third)  # a and b are at their cap: nothing may start
    line.done("a")
    waiter.join(5)

    assert (first, second) == (("a0", "a"), ("b0", "b"))
    assert waited == []
    assert third == [("a1", "a")]


def test_with_a_cap_one_user_runs_one_job_and_leaves_the_rest_of_the_pool(
    make_app: Any,
) -> None:
    app = make_app(HANDOFF_POOL_SIZE=3, HANDOFF_MAX_RUNNING_PER_KEY=1)
    with app.app_context():
        held = sample.hold.submit(identity="alice").id
        behind = sample.hold.submit(identity="alice").id
        other = sample.record_turn.submit(identity="bob").id
    wait_for_job(app, other, timeout=30)  # bob runs beside alice's one running job
    with app.app_context():
        waiting = sample.handoff.get_job(behind).state
    sample.GATE.set()

    assert waiting == "queued"  # alice's second: a free thread, but her cap is reached
    assert wait_for_job(app, held, timeout=30).state == "succeeded"
    assert wait_for_job(app, behind, timeout=30).state == "succeeded"
