"""When each API token was last used, written in batches off the request path.

Writing ``last_used_at`` on every call made every API read a write: at 60 concurrent
uploads the token lookups queued for SQLite's one write lock until the connection pool
ran dry. Now a request only notes the token in memory; a thread writes what was noted
once a minute (and at exit), one statement for all tokens. The time written is when the
token was last seen, to the second; a crash loses at most a minute of it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, update
from sqlalchemy.exc import SQLAlchemyError

from .models import ApiToken, db, utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from flask import Flask

log = logging.getLogger("phonetool.tokens")

FLUSH_SECONDS = 60.0


class TokenUse:
    """The app's notes of token use; ``flush`` writes them."""

    def __init__(self, app: Flask, interval: float = FLUSH_SECONDS) -> None:
        self._app = weakref.ref(app)
        self._interval = interval
        self._seen: dict[int, datetime] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        atexit.register(self._flush_at_exit)

    def saw(self, token_id: int) -> None:
        with self._lock:
            self._seen[token_id] = utcnow()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="phonetool-token-use", daemon=True
                )
                self._thread.start()

    def pending(self, token_id: int) -> datetime | None:
        """A use noted here and not written yet (the account page shows it at once)."""
        with self._lock:
            return self._seen.get(token_id)

    def flush(self, *, quiet: bool = False) -> None:
        """Write what was noted since the last flush; kept for the next one if the
        database refuses (``quiet``: without logging it)."""
        app = self._app()
        with self._lock:
            seen, self._seen = self._seen, {}
        if not seen or app is None:
            return
        stmt = (
            update(ApiToken.__table__)
            .where(ApiToken.__table__.c.id == bindparam("token_id"))
            .values(last_used_at=bindparam("used_at"))
        )
        rows = [{"token_id": k, "used_at": v} for k, v in seen.items()]
        try:
            with app.app_context(), db.engine.begin() as conn:
                conn.execute(stmt, rows)
        except SQLAlchemyError:
            if not quiet:
                log.exception("token use not written; kept for the next flush")
            with self._lock:
                for key, value in seen.items():
                    self._seen.setdefault(key, value)

    def _flush_at_exit(self) -> None:
        # Best effort: at exit the database may be gone already (a test's, or a crash).
        with contextlib.suppress(Exception):
            self.flush(quiet=True)

    def _run(self) -> None:
        while self._app() is not None:
            time.sleep(self._interval)
            self.flush()


def init_app(app: Flask) -> None:
    app.extensions["phonetool.token_use"] = TokenUse(app)


def token_use(app: Flask) -> TokenUse:
    use: TokenUse = app.extensions["phonetool.token_use"]
    return use
