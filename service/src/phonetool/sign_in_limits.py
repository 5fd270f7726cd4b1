"""Wrong passwords, counted in the database every process and machine shares.

Counted in a process's memory, the limits multiplied by the number of processes (the
first 429 came at the 20th wrong password with two); counted in Redis, sign-in failed
with a 500 when Redis was away, and the embedded defaults have no Redis. The database is
the one store every web process already needs: a failure is a row, a limit a count of
rows in the window. Failures that arrive in the same instant may pass a limit by their
number, as the upload limits do (:mod:`.admission`).
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, func, select

from .admission import Overloaded
from .i18n import say
from .models import SignInFailure, db, utcnow

#: Wrong passwords allowed per account and per client address in the window.
PER_ACCOUNT = 10
PER_ADDRESS = 30
WINDOW = timedelta(minutes=15)


def _keys(email: str, address: str | None) -> list[tuple[str, int]]:
    return [
        ("account:" + email[:254], PER_ACCOUNT),
        ("address:" + (address or "unknown")[:64], PER_ADDRESS),
    ]


def check(email: str, address: str | None) -> None:
    """Raise ``Overloaded`` (429, ``Retry-After``) while the account or the address has
    used up its wrong passwords; the right password is refused too until then."""
    now = utcnow()
    since = now - WINDOW
    for key, limit in _keys(email, address):
        count, oldest = db.session.execute(
            select(func.count(), func.min(SignInFailure.at)).where(
                SignInFailure.key == key, SignInFailure.at > since
            )
        ).one()
        if count >= limit:
            wait = math.ceil((oldest + WINDOW - now).total_seconds())
            raise Overloaded(
                429,
                "too_many_requests",
                say(
                    "Too many wrong passwords for this account or from this address."
                    " Try again in %(minutes)d minutes.",
                    minutes=max(1, math.ceil(wait / 60)),
                ),
                max(1, wait),
            )


def record_failure(email: str, address: str | None) -> None:
    """Count one wrong password against the account and the address; forget failures
    older than the window while at it."""
    now = utcnow()
    db.session.execute(delete(SignInFailure).where(SignInFailure.at <= now - WINDOW))
    for key, _limit in _keys(email, address):
        db.session.add(SignInFailure(key=key, at=now))
    db.session.commit()
