"""Bare Celery, the yardstick for Flask-Handoff's short jobs on Celery (celery_bench.py):
the same broker, ``acks_late`` and a prefetch of 1, as Flask-Handoff runs its workers, no
result backend, and a task that only counts itself in Redis, which the benchmark reads to
know when the last has run."""

from __future__ import annotations

import os

import redis
from celery import Celery

BROKER = os.environ["BARE_CELERY_BROKER_URL"]
#: Where the tasks count themselves (a Redis key beside the broker's).
COUNTER = "bare-celery-done"

app = Celery("bare_celery", broker=BROKER)
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
)
_counter = redis.Redis.from_url(BROKER)


@app.task(name="bare_celery.noop")
def noop(i: int) -> None:
    _counter.incr(COUNTER)
