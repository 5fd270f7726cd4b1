"""How a background chore reports a failed round: an outage in one line, a bug in full.

The publisher, the pool's ticker and the Celery watcher retry each round on a timer. While
the database or the broker is away every round fails the same way; a traceback per round
is tens of megabytes of log and says nothing the first line does not. Anything else is a
bug, and its traceback is what finds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

if TYPE_CHECKING:
    import logging

#: Modules whose exceptions mean "the broker is away" (kombu's and redis-py's), matched
#: by name so that the thread backend needs neither installed.
_BROKER_MODULES = ("kombu.", "redis.", "amqp.")


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says a server is away, rather than that the code is wrong."""
    if isinstance(exc, (DBAPIError, PoolTimeout, ConnectionError, TimeoutError)):
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
