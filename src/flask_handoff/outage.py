"""How a background chore reports a failed round: an outage in one line, a bug in full.

The publisher, the pool's ticker and the Celery watcher retry each round on a timer. While
the database or the broker is away every round fails the same way; a traceback per round
is tens of megabytes of log and says nothing the first line does not. Anything else is a
bug, and its traceback is what finds it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")
log = logging.getLogger("flask_handoff")

#: Modules whose exceptions mean "the broker is away" (kombu's and redis-py's), matched
#: by name so that the thread backend needs neither installed.
_BROKER_MODULES = ("kombu.", "redis.", "amqp.")


#: The DB-API's (PEP 249) errors for a connection lost or a database not answering, as
#: the driver raises them where the per-job statements run on its connection directly
#: (:mod:`.prepared`): SQLAlchemy wraps only what passes through it.
_DBAPI_OUTAGES = ("OperationalError", "InterfaceError")


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says a server is away, rather than that the code is wrong."""
    if isinstance(exc, (DBAPIError, PoolTimeout, ConnectionError, TimeoutError)):
        return True
    if any(cls.__name__ in _DBAPI_OUTAGES for cls in type(exc).__mro__):
        return True
    return type(exc).__module__.startswith(_BROKER_MODULES)


def report(log: logging.Logger, chore: str, exc: BaseException) -> None:
    if is_outage(exc):
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        log.warning(
            "%s failed, trying again next round: %s: %s", chore, type(exc).__name__, first_line
        )
    else:
        log.error("%s failed, trying again next round", chore, exc_info=exc)


def retry_while_away(write: Callable[..., T], *args: Any, patience: float, what: str) -> T:
    """``write(*args)``, tried again while a server is away, the pause growing to 5 s, for
    up to ``patience`` seconds from the first failure; then the error is raised. Any other
    error is raised at once. One log line when the outage starts, one when it ends."""
    first_failure: float | None = None
    pause = 0.5
    while True:
        try:
            answer = write(*args)
        except Exception as exc:
            if not is_outage(exc):
                raise
            now = time.monotonic()
            if first_failure is None:
                first_failure = now
                log.warning(
                    "%s: the database is away (%s); trying again for up to %.0f s",
                    what,
                    type(exc).__name__,
                    patience,
                )
            if now - first_failure > patience:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
        else:
            if first_failure is not None:
                log.warning("%s: the database is back; written", what)
            return answer
