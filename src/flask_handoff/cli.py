"""``flask handoff ...``: look at and act on jobs from a shell, and run a worker process."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import click
from flask.cli import AppGroup

from .backends.thread import ThreadBackend
from .current import current_state
from .errors import NoSuchJobError
from .job import FINAL_STATES, STATES, JobState
from .migrate import handoff_migrations

handoff_cli = AppGroup("handoff", help="Inspect and manage background jobs.")


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@handoff_cli.command("init-db")
def init_db() -> None:
    """Create the job table, or bring it up to date (safe to run again)."""
    current_state().store.create_tables()
    click.echo(f"handoff: job table ready (schema {handoff_migrations.current(_engine())})")


@handoff_cli.group("db")
def db_cli() -> None:
    """Flask-Handoff's schema migrations (its own history, apart from the app's)."""


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the job table to REVISION (default: head)."""
    handoff_migrations.upgrade(_engine(), revision)
    click.echo(f"handoff: schema at {handoff_migrations.current(_engine())}")


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Downgrade the job table to REVISION (default: one step back)."""
    handoff_migrations.downgrade(_engine(), revision)
    click.echo(f"handoff: schema at {handoff_migrations.current(_engine())}")


@db_cli.command("current")
def db_current() -> None:
    """Print the job table's schema revision, and the newest this release knows."""
    current = handoff_migrations.current(_engine())
    head = handoff_migrations.head()
    click.echo(f"handoff: schema at {current} (head: {head})")


def _engine() -> Any:
    return current_state().store.engine


@handoff_cli.command("jobs")
@click.option("--state", "states", multiple=True, type=click.Choice(STATES))
@click.option("--identity", default=None, help="Only jobs submitted by this identity.")
@click.option("--limit", default=50, show_default=True)
def list_jobs(states: tuple[str, ...], identity: str | None, limit: int) -> None:
    """List jobs, newest first."""
    jobs = current_state().store.list_jobs(identity=identity, states=states, limit=limit)
    for job in jobs:
        total = f"/{job.progress_total}" if job.progress_total is not None else ""
        click.echo(
            f"{job.id}  {job.state:<9}  {job.task}  by {job.identity}"
            f"  {job.progress_done}{total}  attempts {job.attempts}/{job.max_attempts}"
        )
    if not jobs:
        click.echo("no jobs")


@handoff_cli.command("show")
@click.argument("job_id")
def show(job_id: str) -> None:
    """Show one job in full, with its arguments and traceback."""
    job = current_state().store.get(job_id)
    if job is None:
        raise click.ClickException(str(NoSuchJobError(job_id)))
    _echo_json(job.to_dict(detail=True))


@handoff_cli.command("retry")
@click.argument("job_id")
def retry(job_id: str) -> None:
    """Queue a failed or cancelled job again."""
    state = current_state()
    job = state.store.get(job_id)
    if job is None:
        raise click.ClickException(str(NoSuchJobError(job_id)))
    if job.state not in (JobState.FAILED, JobState.CANCELLED):
        raise click.ClickException(f"Job {job_id} is {job.state}; only failed or cancelled jobs.")
    state.ext.retry(job_id)
    click.echo(f"{job_id} queued again")


@handoff_cli.command("cancel")
@click.argument("job_id")
def cancel(job_id: str) -> None:
    """Cancel a queued job, or ask a running one to stop."""
    state = current_state()
    job = state.store.get(job_id)
    if job is None:
        raise click.ClickException(str(NoSuchJobError(job_id)))
    if job.state in FINAL_STATES:
        raise click.ClickException(f"Job {job_id} is already {job.state}.")
    job = state.ext.cancel(job_id)
    click.echo(f"{job_id} {'cancelled' if job.state == 'cancelled' else 'cancel requested'}")


@handoff_cli.command("purge")
@click.option("--older-than", default=7.0, show_default=True, help="Age in days.")
def purge(older_than: float) -> None:
    """Delete finished jobs (and any files left for them) older than the given age."""
    gone = current_state().ext.purge(time.time() - older_than * 86400)
    click.echo(f"purged {len(gone)} job(s)")


@handoff_cli.command("worker")
@click.option("--concurrency", "-c", type=int, default=None, help="Jobs run at once.")
@click.option(
    "--queues", "-Q", default=None, help="Only these queues' jobs, comma-separated (e.g. mail)."
)
@click.option("--loglevel", "-l", default="INFO", show_default=True, help="Celery: log level.")
@click.option("--pool", "-P", default=None, help="Celery: prefork (default), threads or solo.")
@click.option("--name", "-n", default=None, help="Celery: the node name, e.g. worker1@%h.")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT (the metrics extra).",
)
def worker(
    concurrency: int | None,
    queues: str | None,
    loglevel: str,
    pool: str | None,
    name: str | None,
    metrics_port: int | None,
) -> None:
    """Run jobs in this process until SIGTERM or Ctrl-C (no web server).

    With HANDOFF_BACKEND = "celery" this is a Celery worker for the app
    (``celery worker`` with Handoff's settings); otherwise the thread pool.
    """
    state = current_state()
    if metrics_port is not None:
        from .metrics import serve_metrics

        serve_metrics(state.app, metrics_port)
    named = [q.strip() for q in queues.split(",") if q.strip()] if queues else []
    if state.backend.name == "celery":
        options = {"concurrency": concurrency, "pool": pool, "hostname": name}
        _celery_worker(state, loglevel, options, named)
        return
    if isinstance(state.backend, ThreadBackend):
        if named:  # these queues, each with --concurrency threads
            state.backend.sizes = {q: concurrency or state.pool_size for q in named}
        elif concurrency:
            state.backend.sizes = {q: concurrency for q in state.backend.sizes}
    state.backend.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"handoff worker {state.backend.worker_id} running", err=True)
    while not stop.wait(0.5):
        pass
    click.echo("handoff worker stopping", err=True)
    state.shutdown()


def _celery_worker(state: Any, loglevel: str, options: dict[str, Any], queues: list[str]) -> None:
    from celery.signals import worker_ready

    # Handoff's queue names, as the Celery queues the publisher sends them to.
    options["queues"] = ",".join(state.backend.celery_queue(q) for q in queues)

    # The outbox sweep runs here too, once the worker's processes are forked. Its sends
    # (recoveries, periodic runs) go through a publisher process, whatever
    # HANDOFF_CELERY_PUBLISHER says: sent from a thread beside the worker's event loop, a
    # recovered job's message was lost in about one run in five of test_celery_backend's
    # killed-worker tests.
    state.backend.publish_from_thread = False
    worker_ready.connect(lambda **_: state.backend.start(), weak=False)
    argv = ["worker", f"--loglevel={loglevel}"]
    argv += [f"--{key}={value}" for key, value in options.items() if value]
    state.backend.celery.worker_main(argv)


@handoff_cli.command("check", with_appcontext=False)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "sarif"]), default="text"
)
@click.option("--select", default="", help="Only these rules (codes or prefixes: HO1).")
@click.option("--ignore", default="", help="Not these rules.")
def check_command(paths: tuple[str, ...], output_format: str, select: str, ignore: str) -> None:
    """Find request-context leaks in background code (reads the source; runs nothing).

    Exit status 1 when something is found, 0 when clean, 2 on a usage error.
    """
    from .check.cli import codes, run

    raise SystemExit(run(list(paths), output_format, codes(select), codes(ignore)))
