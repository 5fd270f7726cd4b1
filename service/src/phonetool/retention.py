"""Retention: results, log entries and spent tokens past their age are removed.

It runs daily as a periodic job (``PHONETOOL_CLEANUP_CRON``, 03:15 by default, in
``PHONETOOL_TIMEZONE``), once however many processes run, and on demand as
``flask --app phonetool cleanup``.
"""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import or_

from .extensions import handoff
from .models import ApiToken, MemberOperationLog, Upload, db, utcnow

if TYPE_CHECKING:
    from sqlalchemy import CursorResult


@click.command("cleanup")
@click.option("--result-days", type=int, default=None, help="Default: PHONETOOL_RESULT_DAYS.")
@click.option("--log-days", type=int, default=None, help="Default: PHONETOOL_LOG_DAYS.")
@click.option("--token-days", type=int, default=None, help="Default: PHONETOOL_SPENT_TOKEN_DAYS.")
@with_appcontext
def cleanup(result_days: int | None, log_days: int | None, token_days: int | None) -> None:
    """Delete result files and finished jobs older than --result-days, operation-log
    entries older than --log-days, and tokens and browser sessions revoked or expired more
    than --token-days ago. Upload records and their summaries stay."""
    removed = remove_expired(result_days, log_days, token_days)
    click.echo(
        f"removed {removed['results']} result(s), {removed['jobs']} finished job(s),"
        f" {removed['log_entries']} log entries, {removed['tokens']} spent token(s)"
    )


@handoff.task(max_attempts=3)
def daily_cleanup() -> dict[str, int]:
    """The periodic run (config.py's HANDOFF_SCHEDULE): the settings' ages."""
    return remove_expired()


def remove_expired(
    result_days: int | None = None, log_days: int | None = None, token_days: int | None = None
) -> dict[str, int]:
    """What ``cleanup`` removes; each age defaults to its setting. Returns the counts."""
    c = current_app.config
    result_days = c["PHONETOOL_RESULT_DAYS"] if result_days is None else result_days
    log_days = c["PHONETOOL_LOG_DAYS"] if log_days is None else log_days
    result_cutoff = utcnow() - timedelta(days=result_days)
    old = db.session.execute(
        db.select(Upload).where(Upload.created_at < result_cutoff, Upload.result_dir.is_not(None))
    ).scalars()
    removed = 0
    for up in old:
        shutil.rmtree(up.result_dir or "", ignore_errors=True)
        up.result_dir = None
        removed += 1
    db.session.commit()
    jobs = len(handoff.purge(time.time() - result_days * 86400))
    log_cutoff = utcnow() - timedelta(days=log_days)
    deleted: CursorResult[Any] = db.session.execute(  # type: ignore[assignment]
        db.delete(MemberOperationLog).where(MemberOperationLog.operation_time < log_cutoff)
    )
    entries = deleted.rowcount
    db.session.commit()
    tokens = purge_spent_tokens(
        c["PHONETOOL_SPENT_TOKEN_DAYS"] if token_days is None else token_days
    )
    return {"results": removed, "jobs": jobs, "log_entries": entries, "tokens": tokens}


def purge_spent_tokens(days: int) -> int:
    """Delete tokens and sessions revoked or expired more than ``days`` ago: a revoked
    row only says no, and a member's list should not fill up with them."""
    cutoff = utcnow() - timedelta(days=days)
    deleted: CursorResult[Any] = db.session.execute(  # type: ignore[assignment]
        db.delete(ApiToken).where(or_(ApiToken.revoked_at < cutoff, ApiToken.expires_at < cutoff))
    )
    db.session.commit()
    return deleted.rowcount
