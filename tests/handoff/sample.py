"""A small app shaped like the original report: an operation-log helper two calls deep
reads the ``Authorization`` header to find the user."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, request, session

from flask_handoff import Handoff, current_job, identity

handoff = Handoff()

TOKENS = {"token-alice": "alice", "token-bob": "bob", "token-carol": "carol"}

#: Operation-log entries written by tasks, as (user, action); a list is enough for tests.
OPLOG: list[tuple[Any, str]] = []
OPLOG_LOCK = threading.Lock()


def current_user_id() -> str | None:
    """The legacy helper: reads the live request."""
    header = request.headers.get("Authorization", "")
    return TOKENS.get(header.removeprefix("Bearer "))


def record_operation(action: str) -> None:
    """The fixed helper: asks ``identity()``, which works in a request and in a job."""
    with OPLOG_LOCK:
        OPLOG.append((identity(default=None), action))


def legacy_record_operation(action: str) -> None:
    """The broken helper from the report: fine in a view, fatal in the background."""
    with OPLOG_LOCK:
        OPLOG.append((current_user_id(), action))


@handoff.identity_loader
def _load_identity() -> str | None:
    return current_user_id()


@handoff.capture("tenant")
def _tenant() -> str | None:
    return g.get("tenant")


@handoff.task
def process_order(order_id: int) -> dict[str, Any]:
    record_operation(f"processed order {order_id}")
    return {"order_id": order_id, "user": current_job.identity}


@handoff.task(max_attempts=1)
def legacy_process_order(order_id: int) -> None:
    legacy_record_operation(f"processed order {order_id}")


@handoff.task(max_attempts=1)
def touch_session() -> Any:
    return session.get("user_id")


@handoff.task(request_context=True, max_attempts=1)
def legacy_with_replay(order_id: int) -> dict[str, Any]:
    legacy_record_operation(f"processed order {order_id}")
    return {"user": current_user_id(), "path": request.path}


@handoff.task
def read_upload(upload: Path) -> dict[str, Any]:
    data = upload.read_bytes()
    return {
        "size": len(data),
        "head": data[:20].decode(),
        "name": current_job.files["upload"].filename,
    }


@handoff.task
def whoami() -> dict[str, Any]:
    return {
        "identity": current_job.identity,
        "actor": current_job.actor,
        "context": current_job.context,
    }


@handoff.task
def spawn_child() -> str:
    return whoami.submit().id


@handoff.task
def use_secret() -> int:
    return len(current_job.secrets["cookie"])


ATTEMPTS: dict[str, int] = {}


@handoff.task(max_attempts=3)
def flaky(key: str, failures: int) -> int:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] <= failures:
        raise ConnectionError(f"upstream down (try {ATTEMPTS[key]})")
    return ATTEMPTS[key]


@handoff.task(max_attempts=3)
def fail_until(attempt: int) -> int:
    """Fails its first attempts, wherever they run (the attempt number is the store's)."""
    if current_job.attempt < attempt:
        raise ConnectionError(f"upstream down (attempt {current_job.attempt})")
    return current_job.attempt


@handoff.task(timeout=0.3, max_attempts=1)
def slow_cooperative(steps: int) -> None:
    for i in range(steps):
        current_job.progress(i, steps)
        time.sleep(0.05)


@handoff.task(max_attempts=1)
def progresses_until_told(marker: str) -> int:
    """Reports progress every 20 ms until ``marker``.go exists; returns the steps taken."""
    step = 0
    while not Path(marker + ".go").exists():
        step += 1
        current_job.progress(step, None)
        time.sleep(0.02)
    return step


@handoff.task(max_attempts=1)
def returns_when_told(marker: str) -> str:
    """Says its process id in ``marker``.started, returns once ``marker``.go exists."""
    Path(marker + ".started").write_text(str(os.getpid()))
    while not Path(marker + ".go").exists():
        time.sleep(0.01)
    return "done"


@handoff.task(timeout=0.3, max_attempts=1)
def slow_stubborn() -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # a task that swallows everything it can
            time.sleep(0.01)


@handoff.task(timeout=0.3, max_attempts=1)
def swallows_the_first_stop() -> None:
    """Ignores its timeout and swallows the first forced stop, as a garbage collector's
    callback does when the stop lands in one; the next one ends it."""
    swallowed = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            while time.monotonic() < deadline:
                time.sleep(0.01)
        except BaseException:
            if swallowed:
                raise
            swallowed = True


@handoff.task(timeout=0.3, max_attempts=1)
def stubborn_then_submits(marker: str, child_id: str) -> None:
    """Ignores its timeout; once ``marker``.go exists it hands a child job off (a write to
    the store), then sleeps out its time."""
    Path(marker + ".started").touch()
    deadline = time.monotonic() + 30
    while not Path(marker + ".go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    whoami.submit(job_id=child_id)
    while time.monotonic() < deadline:
        time.sleep(0.01)


@handoff.task(max_attempts=1)
def wait_for_cancel(marker: str) -> None:
    Path(marker).touch()
    for _ in range(600):
        current_job.progress(0, 1, "waiting")
        time.sleep(0.02)


@handoff.task(max_attempts=2)
def sleep_then_mark(seconds: float, marker: str) -> str:
    """Used by the crash tests: a job that is running when its process dies."""
    Path(marker).write_text(str(os.getpid()))
    time.sleep(seconds)
    return "done"


@handoff.task
def count_progress(total: int) -> int:
    for i in range(1, total + 1):
        current_job.progress(i, total, "counting")
    return total


@handoff.task(max_attempts=3)
def steady(seconds: float) -> int:
    """Works for ``seconds``, reporting progress ten times a second."""
    steps = int(seconds * 10)
    for i in range(1, steps + 1):
        time.sleep(0.1)
        current_job.progress(i, steps)
    return current_job.attempt


#: Who each ``record_turn`` job ran for, in the order they ran (tests of fair sharing).
TURNS: list[str] = []
#: Held by ``hold``: the pool's one thread waits on it while the line fills up.
GATE = threading.Event()


@handoff.task
def hold() -> None:
    GATE.wait(30)


@handoff.task
def record_turn() -> None:
    TURNS.append(str(current_job.identity))


#: The job ids of ``beat``'s runs in this process (tests of periodic jobs).
BEATS: list[str] = []


@handoff.task(max_attempts=1)
def beat() -> str:
    BEATS.append(current_job.id)
    return current_job.id


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test-secret",
        HANDOFF_POLL_INTERVAL=0.05,
        HANDOFF_RETRY_BACKOFF=0.05,
        HANDOFF_PROGRESS_INTERVAL=0.05,
        HANDOFF_EVENTS_INTERVAL=0.02,
        HANDOFF_TIMEOUT_GRACE=0.3,
    )
    if "HANDOFF_TEST_DATABASE_URL" in os.environ:  # set for worker subprocesses
        app.config["HANDOFF_DATABASE_URL"] = os.environ["HANDOFF_TEST_DATABASE_URL"]
        app.config["HANDOFF_LEASE_SECONDS"] = float(os.environ.get("HANDOFF_TEST_LEASE", "60"))
    if "HANDOFF_TEST_SCHEDULE" in os.environ:  # periodic jobs, in a worker subprocess
        app.config["HANDOFF_SCHEDULE"] = json.loads(os.environ["HANDOFF_TEST_SCHEDULE"])
    if "HANDOFF_TEST_BROKER_URL" in os.environ:  # a Celery worker subprocess
        app.config["HANDOFF_BACKEND"] = "celery"
        app.config["HANDOFF_CELERY_BROKER_URL"] = os.environ["HANDOFF_TEST_BROKER_URL"]
    if "HANDOFF_TEST_CONFIG" in os.environ:  # settings of a benchmark's worker subprocess
        app.config.update(json.loads(os.environ["HANDOFF_TEST_CONFIG"]))
    app.config.update(config or {})
    handoff.init_app(app)

    @app.before_request
    def _tenant() -> None:
        g.tenant = request.headers.get("X-Tenant")

    @app.post("/orders/<int:order_id>")
    def submit_order(order_id: int) -> Any:
        record_operation(f"submitted order {order_id}")
        job = process_order.submit(order_id)
        return jsonify(job_id=job.id), 202

    @app.post("/legacy/<int:order_id>")
    def submit_legacy(order_id: int) -> Any:
        job = legacy_process_order.submit(order_id)
        return jsonify(job_id=job.id), 202

    @app.post("/replay/<int:order_id>")
    def submit_replay(order_id: int) -> Any:
        job = legacy_with_replay.submit(order_id)
        return jsonify(job_id=job.id), 202

    @app.post("/uploads")
    def upload() -> Any:
        job = read_upload.submit(files={"upload": request.files["file"]})
        return jsonify(job_id=job.id), 202

    @app.post("/whoami")
    def submit_whoami() -> Any:
        return jsonify(job_id=whoami.submit().id), 202

    return app


@handoff.task(max_attempts=2)
def die_hard() -> None:
    """Kills its own process, as an out-of-memory kill or a segfault would."""
    os.kill(os.getpid(), 9)


@handoff.task(max_attempts=3)
def reject_input() -> None:
    from flask_handoff import JobFailed

    raise JobFailed("The file has no phone column.")
