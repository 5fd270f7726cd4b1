"""Flask-Handoff on Celery, end to end: how jobs scale with workers, and what a pending
job costs.

Run by ``scripts/bench`` (which starts Redis). Three parts, each against the same local
Redis and a SQLite job table:

1. short jobs: 1,000 no-op jobs submitted at once, the time until the last has run, on
   the thread backend (2 threads) and on Celery with 1 and 2 worker processes (prefork),
   task events off and on, beside bare Celery the same ways;
2. uploads: 8 phonetool uploads of 100k rows submitted at once, run by 1 and 2 Celery
   workers (threads pool, one job each; every job's pipeline uses the cores too);
3. pending: 1,000 jobs submitted with no worker running: bytes per pending job in Redis
   (the message) and in the job table (the row), and in the submitting process.

Prints a JSON document; ``--markdown FILE`` also writes the report.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent


def _flush(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


def _worker(env: dict[str, str], app: str, *args: str) -> subprocess.Popen[bytes]:
    argv = [str(BIN / "flask"), "--app", app, "handoff", "worker", "--loglevel=WARNING", *args]
    return subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_all(app: Any, store: Any, count: int, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while store.count(states=("succeeded",)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{store.count(states=('succeeded',))} of {count} done")
        time.sleep(0.05)


def _fresh(database_url: str | None) -> str:
    """The given database with no job table (the run creates it), or a new SQLite file."""
    if database_url is None:
        return f"sqlite:///{tempfile.mkdtemp(prefix='celery-bench-')}/jobs.sqlite3"
    from flask_handoff.store import JobStore, make_engine

    engine = make_engine(database_url)
    JobStore(engine).drop_tables()
    engine.dispose()
    return database_url


#: Celery's task events off (its default) and on (Flask-Handoff's default, for Flower):
#: each event is a round trip to Redis from the worker's main process, so the yardstick
#: is measured both ways, and Flask-Handoff too.
EVENTS = {"task events off": False, "task events on": True}
#: Rounds of the short jobs; each method once a round, the median counts.
ROUNDS = 3


def bare_celery(redis_url: str, jobs: int, processes: int, events: bool) -> float:
    """Seconds for ``jobs`` no-op tasks sent with ``delay()`` until the last has run, on a
    bare Celery worker of ``processes`` processes (benchmarks/bare_celery.py); ``events``:
    started with ``-E`` (task events)."""
    import redis

    _flush(redis_url)
    env = {**os.environ, "BARE_CELERY_BROKER_URL": redis_url, "PYTHONPATH": str(ROOT)}
    argv = [str(BIN / "celery"), "--app", "benchmarks.bare_celery", "worker"]
    worker = subprocess.Popen(
        [*argv, "--loglevel=WARNING", f"--concurrency={processes}", *(["-E"] if events else [])],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.environ["BARE_CELERY_BROKER_URL"] = redis_url
    from benchmarks import bare_celery

    counter = redis.Redis.from_url(redis_url)
    try:
        time.sleep(4)  # the worker is up
        started = time.perf_counter()
        for i in range(jobs):
            bare_celery.noop.delay(i)
        while int(counter.get(bare_celery.COUNTER) or 0) < jobs:
            time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        _stop(worker)


def short_jobs(redis_url: str, jobs: int, database_url: str | None) -> dict[str, Any]:
    """``ROUNDS`` rounds, each method once a round, side by side: Flask-Handoff on threads
    and on Celery, and bare Celery with the same broker and settings, task events off and
    on; the median of each counts, and each Celery row is divided by bare Celery's with
    the same processes and events."""
    seconds: dict[str, list[float]] = {}
    for _ in range(ROUNDS):
        for label, took in _short_jobs_round(redis_url, jobs, database_url).items():
            seconds.setdefault(label, []).append(took)
    results: dict[str, Any] = {}
    for label, runs in seconds.items():
        median = statistics.median(runs)
        results[label] = {
            "seconds": round(median, 2),
            "jobs_per_second": round(jobs / median),
            "rounds_jobs_per_second": [round(jobs / took) for took in runs],
        }
    for label, row in results.items():
        if label.startswith("Flask-Handoff on Celery"):
            bare = results[label.replace("Flask-Handoff on Celery", "bare Celery")]
            row["of_bare"] = round(row["jobs_per_second"] / bare["jobs_per_second"], 2)
    return results


def _short_jobs_round(redis_url: str, jobs: int, database_url: str | None) -> dict[str, float]:
    from tests.handoff import sample

    from flask_handoff.extension import DEFAULTS

    # The library's own intervals, not the test sample's quick ones: a worker process
    # polling every 50 ms for its chores spent a quarter of its time on them.
    timings = {
        name: DEFAULTS[name]
        for name in (
            "HANDOFF_POLL_INTERVAL",
            "HANDOFF_RETRY_BACKOFF",
            "HANDOFF_PROGRESS_INTERVAL",
            "HANDOFF_EVENTS_INTERVAL",
            "HANDOFF_TIMEOUT_GRACE",
        )
    }
    runs: list[tuple[str, int, bool]] = [("Flask-Handoff on threads (2)", 0, False)]
    for processes in (1, 2):
        for events_label, events in EVENTS.items():
            suffix = f", {processes} process{'es' if processes > 1 else ''}, {events_label}"
            runs += [(f"bare Celery{suffix}", -processes, events)]
            runs += [(f"Flask-Handoff on Celery{suffix}", processes, events)]
    results: dict[str, float] = {}
    for label, processes, events in runs:
        if processes < 0:
            results[label] = bare_celery(redis_url, jobs, -processes, events)
            continue
        database = _fresh(database_url)
        settings = {**timings}
        if processes and not events:
            settings["HANDOFF_CELERY"] = {
                "worker_send_task_events": False,
                "task_send_sent_event": False,
            }
        config: dict[str, Any] = {
            "HANDOFF_DATABASE_URL": database,
            "HANDOFF_POOL_SIZE": 2,
            **settings,
        }
        proc = None
        if processes:
            _flush(redis_url)
            config.update(HANDOFF_BACKEND="celery", HANDOFF_CELERY_BROKER_URL=redis_url)
            env = {
                **os.environ,
                "HANDOFF_TEST_DATABASE_URL": database,
                "HANDOFF_TEST_BROKER_URL": redis_url,
                "HANDOFF_TEST_CONFIG": json.dumps(settings),
                "PYTHONPATH": str(ROOT),
            }
            proc = _worker(env, "tests.handoff.sample:create_app", f"--concurrency={processes}")
            time.sleep(4)  # the worker is up
        app = sample.create_app(config)
        store = app.extensions["handoff"].store
        if processes:
            # A service's publisher process starts with its web process, long before the
            # requests: timed from its start, a round counted its ~1.5 s of importing
            # Celery (half of a 3 s round), which bare Celery's delay() never pays.
            time.sleep(4)
        try:
            started = time.perf_counter()
            with app.app_context():
                for i in range(jobs):
                    sample.process_order.submit(i, identity="bench")
            _wait_all(app, store, jobs)
            seconds = time.perf_counter() - started
        finally:
            sample.handoff.shutdown(app, timeout=5)
            if proc is not None:
                _stop(proc)
        results[label] = seconds
    return results


def uploads(redis_url: str, count: int, rows: int) -> dict[str, Any]:
    from benchmarks.pipeline import generate_rows, write_inputs

    source_dir = Path(tempfile.mkdtemp(prefix="celery-bench-src-"))
    source = write_inputs(generate_rows(rows, seed=11), source_dir, formats=("csv-utf8",))
    data = source["csv-utf8"].read_bytes()
    results: dict[str, Any] = {}
    for workers in (1, 2):
        _flush(redis_url)
        instance = tempfile.mkdtemp(prefix="celery-bench-instance-")
        env = {
            **os.environ,
            "PHONETOOL_INSTANCE": instance,
            "PHONETOOL_JOB_BACKEND": "celery",
            "REDIS_URL": redis_url,
            "PHONETOOL_MAX_ACTIVE_PER_MEMBER": "100",
        }
        os.environ.update(env)
        from phonetool import create_app
        from phonetool.extensions import handoff
        from phonetool.jobs import process_upload
        from phonetool.models import Member, Upload, db

        app = create_app({"HANDOFF_AUTOSTART": True})
        procs = [
            _worker(env, "phonetool", "--pool=threads", "--concurrency=1", f"--name=w{n}@%h")
            for n in range(workers)
        ]
        time.sleep(5)
        store = app.extensions["handoff"].store
        try:
            with app.app_context():
                member = Member(email="bench@example.com", name="bench", password_hash="-")
                db.session.add(member)
                db.session.commit()
                started = time.perf_counter()
                for i in range(count):
                    path = Path(instance) / f"list-{i}.csv"
                    path.write_bytes(data)
                    up = Upload(
                        id=f"{i:032x}",
                        member_id=member.id,
                        original_name=f"list-{i}.csv",
                        size=len(data),
                        options={"nationwide": True, "provinces": []},
                    )
                    db.session.add(up)
                    db.session.commit()
                    process_upload.submit(
                        files={"upload": path}, upload_id=up.id, job_id=up.id, identity=member.id
                    )
            _wait_all(app, store, count)
            seconds = time.perf_counter() - started
        finally:
            handoff.shutdown(app, timeout=5)
            for proc in procs:
                _stop(proc)
        results[f"{workers} worker(s)"] = {
            "seconds": round(seconds, 1),
            "rows_per_second": round(count * rows / seconds),
        }
    one, two = results["1 worker(s)"]["seconds"], results["2 worker(s)"]["seconds"]
    results["speed-up"] = round(one / two, 2)
    return results


def pending(redis_url: str, jobs: int) -> dict[str, Any]:
    import redis
    from tests.handoff import sample

    client = redis.Redis.from_url(redis_url)
    out: dict[str, Any] = {}
    for label, backend in (("threads", "thread"), ("Celery", "celery")):
        _flush(redis_url)
        folder = tempfile.mkdtemp(prefix="celery-bench-pending-")
        database = Path(folder) / "jobs.sqlite3"
        config: dict[str, Any] = {
            "HANDOFF_DATABASE_URL": f"sqlite:///{database}",
            "HANDOFF_POOL_SIZE": 1,
        }
        if backend == "celery":
            config.update(HANDOFF_BACKEND="celery", HANDOFF_CELERY_BROKER_URL=redis_url)
        else:
            config.update(HANDOFF_AUTOSTART=False)  # nothing runs: every job stays pending
        app = sample.create_app(config)
        store = app.extensions["handoff"].store
        gc.collect()
        redis_before = int(client.info("memory")["used_memory"])
        db_before = _table_bytes(database)
        with app.app_context():
            for i in range(jobs):
                sample.process_order.submit(i, identity="bench")
        if backend == "celery":
            deadline = time.monotonic() + 60
            while store.unpublished(time.time() + 60) and time.monotonic() < deadline:
                time.sleep(0.1)
        redis_after = int(client.info("memory")["used_memory"])
        db_after = _table_bytes(database)
        waiting = int(client.llen("celery"))
        out[label] = {
            "broker_bytes_per_job": round((redis_after - redis_before) / jobs) if waiting else 0,
            "table_bytes_per_job": round((db_after - db_before) / jobs),
            "messages_in_broker": waiting,
        }
        sample.handoff.shutdown(app, timeout=5)
    _flush(redis_url)
    return out


def _table_bytes(database: Path) -> int:
    """Bytes the database's pages take, the write-ahead log folded in first."""
    import sqlite3

    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(pages * size)


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "## Flask-Handoff on Celery: scaling and pending jobs",
        "",
        f"{report['machine']}; a local Redis (`benchmarks/celery_bench.py`). The uploads and"
        " pending jobs use SQLite for the tables.",
        "",
        f"### {report['jobs']:,} short jobs submitted at once, until the last has run",
        "",
        f"The job table on {report['short_jobs_database']}; submitting is counted in, from a"
        " web process whose publisher process has started (as a service's has, long before"
        " its requests), with its workers up. Bare"
        " Celery: the same Redis, `acks_late`, a prefetch of 1, no results"
        " (`benchmarks/bare_celery.py`), its worker started without and with `-E`."
        f" {ROUNDS} rounds side by side, each method once a round; the median counts. Task"
        " events (which Flower shows) are on by default in Flask-Handoff's workers and off"
        " in Celery's: each is a round trip to Redis from the worker's main process.",
        "",
        "| runs on | seconds | jobs per second | each round | ÷ bare Celery, same"
        " processes and events |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, row in report["short_jobs"].items():
        ratio = f"{row['of_bare']:.2f}" if "of_bare" in row else ""
        rounds = " / ".join(f"{n:,}" for n in row["rounds_jobs_per_second"])
        lines.append(
            f"| {label} | {row['seconds']} | {row['jobs_per_second']:,} | {rounds} | {ratio} |"
        )
    up = report["uploads"]
    lines += [
        "",
        f"### {report['upload_count']} uploads of {report['upload_rows']:,} rows submitted at"
        " once (phonetool)",
        "",
        "| Celery workers | seconds | rows per second |",
        "| --- | ---: | ---: |",
    ]
    for label in ("1 worker(s)", "2 worker(s)"):
        lines.append(f"| {label[0]} | {up[label]['seconds']} | {up[label]['rows_per_second']:,} |")
    lines += [
        "",
        f"Speed-up with 2 workers: {up['speed-up']}x. Each job's pipeline already uses every"
        " core of this 2-core machine, so a second worker here mostly overlaps one job's"
        " serial steps with another's; on a second machine it adds that machine's cores.",
        "",
        f"### {report['jobs']:,} pending jobs (no worker running)",
        "",
        "| backend | in the broker, per job | in the job table, per job | messages waiting |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, row in report["pending"].items():
        lines.append(
            f"| {label} | {row['broker_bytes_per_job']:,} B | {row['table_bytes_per_job']:,} B"
            f" | {row['messages_in_broker']:,} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default=os.environ.get("HANDOFF_TEST_REDIS_URL"))
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("HANDOFF_TEST_POSTGRES_URL"),
        help="Job table for the short jobs (PostgreSQL: SQLite's one writer would be the"
        " bottleneck); default: a SQLite file.",
    )
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    if not args.redis_url:
        parser.error("needs --redis-url (scripts/bench starts Redis)")
    report = {
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "jobs": args.jobs,
        "upload_count": args.uploads,
        "upload_rows": args.rows,
        "short_jobs_database": "PostgreSQL" if args.database_url else "SQLite",
        "short_jobs": short_jobs(args.redis_url, args.jobs, args.database_url),
        "pending": pending(args.redis_url, args.jobs),
        "uploads": uploads(args.redis_url, args.uploads, args.rows),
    }
    print(json.dumps(report, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(report))


if __name__ == "__main__":
    main()
