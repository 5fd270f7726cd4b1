"""Hand-off cost and what pending jobs keep alive: Flask-Handoff beside the usual ways.

Run by ``scripts/bench`` (which starts Redis for Celery). Two parts:

1. latency — inside one pushed request context, the time of one hand-off call with
   ``threading.Thread.start``, ``ThreadPoolExecutor.submit``, Flask-Executor's ``submit``,
   Celery's ``delay()`` to a local Redis, Flask-Handoff's durable ``submit`` on SQLite (on
   threads, and on Celery to the same Redis), and, as the floor under any durable queue,
   a bare SQLite WAL insert + commit. Methods
   are measured in interleaved rounds in the same process, so noise hits all alike.
2. pending — N jobs whose requests each uploaded M MB and whose workers are busy: memory
   (RSS) and open file descriptors retained, Flask-Handoff vs Flask-Executor, each in a
   fresh subprocess.

Prints a JSON document; ``--markdown FILE`` also writes the report.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from flask import Flask, request

from flask_handoff import Handoff


def _noop(*_: Any) -> None:
    return None


# -- part 1: latency ----------------------------------------------------------------------


def _handoff_app(folder: str, **config: Any) -> tuple[Flask, Handoff, Any]:
    ext = Handoff()
    app = Flask("bench")
    app.config.update(
        SECRET_KEY="bench",
        HANDOFF_DATABASE_URL=f"sqlite:///{folder}/handoff.sqlite3",
        HANDOFF_SPOOL_DIR=f"{folder}/spool",
        HANDOFF_URL_PREFIX=None,
        **config,
    )
    ext.init_app(app)

    @ext.identity_loader
    def _user() -> str | None:
        return request.headers.get("X-User")

    @ext.task
    def noop(i: int) -> None:
        return None

    return app, ext, noop


def measure_latency(
    rounds: int, per_round: int, redis_url: str | None, interval: float
) -> dict[str, Any]:
    """Median and p99 of one hand-off; ``interval`` > 0 paces calls that far apart."""
    folder = tempfile.mkdtemp(prefix="handoff-bench-")
    app, ext, handoff_noop = _handoff_app(folder, HANDOFF_POOL_SIZE=4)
    # The same hand-off in a process that only submits (workers run elsewhere).
    submit_only, submit_ext, submit_noop = _handoff_app(
        tempfile.mkdtemp(prefix="handoff-bench-"), HANDOFF_AUTOSTART=False
    )
    pool = ThreadPoolExecutor(max_workers=4)

    from flask_executor import Executor  # the baseline Flask users reach for

    executor_app = Flask("executor")
    executor = Executor(executor_app)
    executor_app.config["EXECUTOR_MAX_WORKERS"] = 4

    bare = sqlite3.connect(f"{folder}/bare.sqlite3", isolation_level=None)
    bare.execute("PRAGMA journal_mode=WAL")
    bare.execute("PRAGMA synchronous=NORMAL")
    bare.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, task TEXT, args TEXT, created REAL)")

    def bare_insert(i: int) -> None:
        bare.execute("BEGIN")
        bare.execute(
            "INSERT INTO jobs VALUES (?, ?, ?, ?)",
            (uuid.uuid4().hex, "noop", json.dumps([i]), time.time()),
        )
        bare.execute("COMMIT")

    methods: dict[str, Callable[[int], Any]] = {
        "threading.Thread.start": lambda i: threading.Thread(target=_noop).start(),
        "ThreadPoolExecutor.submit": lambda i: pool.submit(_noop, i),
        "Flask-Executor submit": lambda i: executor.submit(_noop, i),
        "Flask-Handoff submit (durable, SQLite)": lambda i: handoff_noop.submit(i),
        "Flask-Handoff submit, submit-only process": lambda i: submit_noop.submit(i),
        "bare SQLite WAL insert + commit": bare_insert,
    }
    celery_app = None
    on_celery = None
    if redis_url:
        from celery import Celery

        celery_app = Celery("bench", broker=redis_url)
        celery_app.conf.task_ignore_result = True
        celery_noop = celery_app.task(name="bench.noop")(_noop)
        methods["Celery delay() to local Redis"] = lambda i: celery_noop.delay(i)
        # The same durable submit on the Celery backend: the message leaves from a
        # publisher thread, not from the request (no worker consumes here).
        on_celery, celery_ext, celery_handoff_noop = _handoff_app(
            tempfile.mkdtemp(prefix="handoff-bench-"),
            HANDOFF_BACKEND="celery",
            HANDOFF_CELERY_BROKER_URL=redis_url,
        )
        methods["Flask-Handoff submit on Celery (SQLite + Redis)"] = lambda i: (
            celery_handoff_noop.submit(i)
        )

    samples: dict[str, list[float]] = {name: [] for name in methods}
    owners = {"Executor": executor_app, "submit-only": submit_only}
    if on_celery is not None:
        owners["on Celery"] = on_celery
    contexts = [
        (name, next((a for key, a in owners.items() if key in name), app)) for name in methods
    ]
    for round_no in range(rounds + 1):  # round 0 warms up and is dropped
        for name, owner in contexts:
            fn = methods[name]
            start = time.perf_counter()
            for i in range(per_round):
                if interval:
                    time.sleep(max(0.0, start + i * interval - time.perf_counter()))
                with owner.test_request_context("/orders/1", headers={"X-User": "alice"}):
                    t0 = time.perf_counter()
                    fn(i)
                    elapsed = time.perf_counter() - t0
                if round_no:
                    samples[name].append(elapsed)
            time.sleep(0.3)  # let this method's workers drain before the next one

    results = {}
    for name, values in samples.items():
        values.sort()
        results[name] = {
            "median_us": round(statistics.median(values) * 1e6, 1),
            "p99_us": round(values[int(len(values) * 0.99)] * 1e6, 1),
            "n": len(values),
        }
    pool.shutdown()
    ext.shutdown(app)
    submit_ext.shutdown(submit_only)
    if on_celery is not None:
        celery_ext.shutdown(on_celery)
    if celery_app is not None:
        import redis

        redis.Redis.from_url(redis_url).flushdb()  # type: ignore[arg-type]
    return results


# -- part 2: pending jobs -----------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _upload_request(app: Flask, payload: bytes) -> Any:
    return app.test_request_context(
        "/uploads",
        method="POST",
        data={"file": (io.BytesIO(payload), "orders.csv")},
        content_type="multipart/form-data",
    )


def pending_child(kind: str, jobs: int, upload_mb: int) -> dict[str, Any]:
    """Runs in a fresh process: submit ``jobs`` uploads behind one busy worker."""
    payload = os.urandom(1024 * 1024) * upload_mb
    folder = tempfile.mkdtemp(prefix="handoff-pending-")
    release = threading.Event()

    if kind == "handoff":
        app, ext, _ = _handoff_app(folder, HANDOFF_POOL_SIZE=1)

        @ext.task
        def block() -> None:
            release.wait()

        @ext.task
        def consume(upload: Path) -> int:
            return upload.stat().st_size

        with app.app_context():
            block.submit()

        def submit() -> None:
            consume.submit(files={"upload": request.files["file"]})

        owner = app
    else:
        from flask_executor import Executor

        owner = Flask("executor")
        owner.config["EXECUTOR_MAX_WORKERS"] = 1
        executor = Executor(owner)
        with owner.test_request_context():  # it copies the request context, so needs one
            executor.submit(release.wait)

        def consume_upload(upload: Any) -> int:
            return len(upload.read())

        def submit() -> None:
            executor.submit(consume_upload, request.files["file"])

    time.sleep(0.3)
    gc.collect()
    tracemalloc.start()
    rss0, fds0, heap0 = _rss_bytes(), _open_fds(), tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    for _ in range(jobs):
        with _upload_request(owner, payload):
            submit()
    elapsed = time.perf_counter() - t0
    gc.collect()
    rss1, fds1, heap1 = _rss_bytes(), _open_fds(), tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    release.set()
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "jobs": jobs,
        "upload_mb": upload_mb,
        "rss_retained_bytes": rss1 - rss0,
        "rss_per_job_bytes": round((rss1 - rss0) / jobs),
        "heap_per_job_bytes": round((heap1 - heap0) / jobs),
        "open_fds_retained": fds1 - fds0,
        "submit_seconds": round(elapsed, 2),
    }


def measure_pending(jobs: int, upload_mb: int) -> dict[str, Any]:
    results = {}
    for kind in ("handoff", "flask-executor"):
        out = subprocess.run(
            [sys.executable, __file__, "pending-child", kind, str(jobs), str(upload_mb)],
            check=True,
            capture_output=True,
            text=True,
        )
        results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


# -- report -------------------------------------------------------------------------------


def _latency_table(title: str, note: str, lat: dict[str, Any]) -> list[str]:
    floor = lat["bare SQLite WAL insert + commit"]["median_us"]
    lines = [
        f"### {title}",
        "",
        note,
        "",
        "| method | median (µs) | p99 (µs) | median ÷ bare SQLite insert |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, r in sorted(lat.items(), key=lambda kv: kv[1]["median_us"]):
        ratio = r["median_us"] / floor if floor else float("nan")
        lines.append(f"| {name} | {r['median_us']} | {r['p99_us']} | {ratio:.2f} |")
    return [*lines, ""]


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "## Hand-off latency (inside a request)",
        "",
        f"{report['machine']}. Each call in its own request context; {report['rounds']}"
        f" rounds of {report['per_round']} calls per method, methods interleaved, all in one"
        " process with every method's workers running the submitted no-op jobs.",
        "",
    ]
    lines += _latency_table(
        "Paced: one hand-off per millisecond",
        "A busy web process: 1,000 requests a second, each handing off one job.",
        report["latency_paced"],
    )
    lines += _latency_table(
        "Burst: hand-offs back to back",
        "The worst case: workers never catch up, so every hand-off competes with them for"
        " the GIL and, for Flask-Handoff, for SQLite's write lock.",
        report["latency_burst"],
    )
    pend = report["pending"]
    h, e = pend["handoff"], pend["flask-executor"]
    lines += [
        "",
        f"## {h['jobs']} pending jobs, each from a request that uploaded {h['upload_mb']} MB",
        "",
        "One busy worker, so every job stays pending; each in a fresh process; retained ="
        " after minus before, after garbage collection.",
        "",
        "| | RSS retained | RSS per pending job | Python heap per pending job"
        " | open files retained | time to submit all |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in (("Flask-Handoff", h), ("Flask-Executor", e)):
        lines.append(
            f"| {name} | {r['rss_retained_bytes'] / 1e6:.1f} MB | {r['rss_per_job_bytes']} B"
            f" | {r['heap_per_job_bytes']} B | {r['open_fds_retained']}"
            f" | {r['submit_seconds']} s |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "pending-child":
        print(json.dumps(pending_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--upload-mb", type=int, default=10)
    parser.add_argument("--redis-url", default=os.environ.get("HANDOFF_TEST_REDIS_URL"))
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--latency-only", action="store_true", help="Skip the pending part.")
    args = parser.parse_args()
    report = {
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "rounds": args.rounds,
        "per_round": args.per_round,
        "latency_paced": measure_latency(
            args.rounds, args.per_round, args.redis_url, interval=0.001
        ),
        "latency_burst": measure_latency(args.rounds, args.per_round, args.redis_url, interval=0),
    }
    if not args.latency_only:
        report["pending"] = measure_pending(args.jobs, args.upload_mb)
    print(json.dumps(report, indent=2))
    if args.markdown and not args.latency_only:
        args.markdown.write_text(markdown(report))


if __name__ == "__main__":
    main()
