"""Settings, read from the environment in one place, over embedded defaults.

With nothing set, the service runs on one machine with no other server: SQLite in the
instance folder, jobs on the in-process thread pool, mail written as .eml files to an
outbox folder.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


#: The queue of the result mails (jobs.deliver_result).
MAIL_QUEUE = "mail"


def _cleanup_schedule(cron: str | None) -> dict[str, Any]:
    cron = "15 3 * * *" if cron is None else cron.strip()
    return {"cleanup": {"task": "phonetool.retention.daily_cleanup", "cron": cron}} if cron else {}


def settings(instance_path: str) -> dict[str, Any]:
    instance = Path(instance_path)
    database = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'phonetool.sqlite3'}"
    jobs = _int("PHONETOOL_JOB_WORKERS", 2)
    mail_threads = _int("PHONETOOL_MAIL_WORKERS", 1)
    max_upload_mb = _int("PHONETOOL_MAX_UPLOAD_MB", 200)
    threads = _int("PHONETOOL_WEB_THREADS", 16)
    engine = _engine_options(database, threads + jobs + mail_threads)
    return {
        "SECRET_KEY": os.environ.get("PHONETOOL_SECRET_KEY") or _instance_secret(instance),
        "SQLALCHEMY_DATABASE_URI": database,
        "SQLALCHEMY_ENGINE_OPTIONS": engine,
        # Bring the tables up to date at start (scripts/serve does it before the server).
        "PHONETOOL_AUTO_MIGRATE": os.environ.get("PHONETOOL_AUTO_MIGRATE", "1") == "1",
        "HANDOFF_ENGINE_OPTIONS": engine,
        "HANDOFF_BACKEND": os.environ.get("PHONETOOL_JOB_BACKEND", "thread"),
        # The events process (gunicorn_events_conf) serves pages and runs no jobs.
        "HANDOFF_AUTOSTART": os.environ.get("PHONETOOL_RUN_JOBS", "1") == "1",
        # The Celery backend's broker (PHONETOOL_JOB_BACKEND=celery).
        "HANDOFF_CELERY_BROKER_URL": os.environ.get("REDIS_URL"),
        "HANDOFF_POOL_SIZE": jobs,
        # On threads: the pipelines' threads, and the mails' own, so a result's mail never
        # waits for a pipeline to end. On Celery, a worker started with --queues mail.
        "HANDOFF_QUEUES": {"*": jobs, MAIL_QUEUE: mail_threads},
        # Retention runs daily as a periodic job, once whatever the number of processes;
        # PHONETOOL_CLEANUP_CRON="" turns it off (then run `flask cleanup` from cron).
        "HANDOFF_SCHEDULE": _cleanup_schedule(os.environ.get("PHONETOOL_CLEANUP_CRON")),
        "HANDOFF_TIMEZONE": os.environ.get("PHONETOOL_TIMEZONE", "Asia/Shanghai"),
        # How long after its process died a running job is taken up again.
        "HANDOFF_LEASE_SECONDS": float(_int("PHONETOOL_JOB_LEASE_SECONDS", 60)),
        # How soon a process sees a cancel asked of another, among other chores.
        "HANDOFF_POLL_INTERVAL": 0.5,
        "HANDOFF_URL_PREFIX": None,  # the service's own /api/jobs is the one job API
        # On Celery: a job still queued a minute after its message was sent is sent again
        # (Redis restarted without persistence loses messages); a second message for a
        # job that merely waits for a worker is dropped by the claim.
        "HANDOFF_CELERY_RESEND_AFTER": 60.0,
        # On Celery: one member's jobs with the broker or running at once, per queue; the
        # rest wait in the table and are released round-robin across members, so another
        # member's upload waits for one running job at most (scripts/scale runs 4 threads).
        "HANDOFF_CELERY_IN_FLIGHT_PER_KEY": _int("PHONETOOL_IN_FLIGHT_PER_MEMBER", 4),
        "MAX_CONTENT_LENGTH": max_upload_mb * 1024 * 1024,
        "PHONETOOL_RESULTS_DIR": os.environ.get("PHONETOOL_RESULTS_DIR")
        or str(instance / "results"),
        "PHONETOOL_PIPELINE_WORKERS": _int("PHONETOOL_PIPELINE_WORKERS", 0) or None,
        "PHONETOOL_JOB_MEMORY_MB": _int("PHONETOOL_JOB_MEMORY_MB", 2048),
        # Steps below the server's CPU priority a job's processes run at: pages stay quick
        # while a large list is processed on the same machine.
        "PHONETOOL_JOB_NICENESS": _int("PHONETOOL_JOB_NICENESS", 10),
        "PHONETOOL_MAX_ACTIVE_PER_MEMBER": _int("PHONETOOL_MAX_ACTIVE_PER_MEMBER", 20),
        "PHONETOOL_MAX_ACTIVE": _int("PHONETOOL_MAX_ACTIVE", 200),
        # Open job pages followed live (event streams), per member and in this process.
        # A threaded server gives streams at most half its threads; the proxy's events
        # process (gevent) sets thousands. A page over the bound asks every few seconds.
        "PHONETOOL_STREAMS_PER_MEMBER": _int("PHONETOOL_STREAMS_PER_MEMBER", 10),
        # One stream's longest life; the page's EventSource then connects again.
        "PHONETOOL_EVENTS_SECONDS": _int("PHONETOOL_EVENTS_SECONDS", 300),
        "PHONETOOL_STREAMS_MAX": _int("PHONETOOL_STREAMS_MAX", max(1, threads // 2)),
        # Room for one more upload of the largest size, at the least.
        "PHONETOOL_MIN_FREE_MB": _int(
            "PHONETOOL_MIN_FREE_MB", _int("PHONETOOL_MAX_UPLOAD_MB", 200)
        ),
        # Prometheus scrapes /metrics with this token; unset, there is no /metrics.
        "PHONETOOL_METRICS_TOKEN": os.environ.get("PHONETOOL_METRICS_TOKEN") or None,
        "PHONETOOL_ATTACH_LIMIT_MB": _int("PHONETOOL_ATTACH_LIMIT_MB", 10),
        "PHONETOOL_BASE_URL": os.environ.get("PHONETOOL_BASE_URL", "http://127.0.0.1:5000"),
        "PHONETOOL_RESULT_DAYS": _int("PHONETOOL_RESULT_DAYS", 30),
        "PHONETOOL_LOG_DAYS": _int("PHONETOOL_LOG_DAYS", 180),
        # Revoked or expired tokens and sessions are deleted by `cleanup` after this.
        "PHONETOOL_SPENT_TOKEN_DAYS": _int("PHONETOOL_SPENT_TOKEN_DAYS", 30),
        "PHONETOOL_LOG_FORMAT": os.environ.get("PHONETOOL_LOG_FORMAT", "text"),
        # Proxies in front whose X-Forwarded-For/-Proto/-Host are believed: 1 behind the
        # nginx of scripts/serve, 0 (believe none) when clients reach gunicorn directly.
        "PHONETOOL_PROXY_HOPS": _int("PHONETOOL_PROXY_HOPS", 0),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        # Served over HTTPS (behind a proxy that terminates TLS): the cookie says so.
        "SESSION_COOKIE_SECURE": os.environ.get("PHONETOOL_BASE_URL", "").startswith("https:"),
        # A signed-in browser's session ends this long after sign-in at the latest.
        "PHONETOOL_SESSION_HOURS": _int("PHONETOOL_SESSION_HOURS", 12),
        # How new passwords are hashed (Werkzeug's method string); hashes made before a
        # change still check, each by its own method. The tests use a fast one, as
        # Django's test settings do: scrypt's 0.1 s per hash was a tenth of the suite.
        "PHONETOOL_PASSWORD_HASH": os.environ.get("PHONETOOL_PASSWORD_HASH", "scrypt"),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER"),
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USE_TLS": os.environ.get("MAIL_USE_TLS", "") == "1",
        "MAIL_USE_SSL": os.environ.get("MAIL_USE_SSL", "") == "1",
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME"),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD"),
        "MAIL_SENDER": os.environ.get("MAIL_SENDER", "phonetool@localhost"),
        "MAIL_OUTBOX": os.environ.get("MAIL_OUTBOX") or str(instance / "outbox"),
    } | handoff_overrides(dict(os.environ))


def handoff_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """Every Flask-Handoff setting, from the environment variable of its own name: a JSON
    value (``60``, ``true``, ``{"broker_pool_limit": 4}``) or else the text as it is."""
    from flask_handoff.extension import DEFAULTS

    found: dict[str, Any] = {}
    for name in DEFAULTS.keys() & environ.keys():
        try:
            found[name] = json.loads(environ[name])
        except ValueError:
            found[name] = environ[name]
    return found


def _engine_options(url: str, threads: int) -> dict[str, Any]:
    """A connection for every thread that may want one at once (the web server's and the
    jobs', plus the job pool's ticker and a spare), so a busy server queues on the
    database, not on its pool; waiting longer than ``pool_timeout`` is answered 503."""
    options: dict[str, Any] = {"pool_size": threads + 2, "max_overflow": 4, "pool_timeout": 10}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 30}  # wait for SQLite's write lock
    return options


def _instance_secret(instance: Path) -> str:
    """A random key kept in the instance folder, so sessions and job secrets survive a
    restart without anyone having to choose one."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
