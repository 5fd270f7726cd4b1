"""Prometheus metrics of one app's jobs (``pip install Flask-Handoff[metrics]``).

Two kinds, as a Prometheus user expects them:

- read from the job table at each scrape, the same from any process: jobs per task and
  state, the age of each queue's longest-waiting due job, and whether the parts of this
  process that run jobs are up (``handoff.health()``);
- counted in the process that runs the jobs, from the job signals: durations, the wait
  between becoming due and starting, ends by state, retries. On the thread backend that
  is the web process; Celery workers serve theirs with ``flask handoff worker
  --metrics-port``.

>>> from flask_handoff.metrics import init_metrics, metrics_view
>>> init_metrics(app)  # after handoff.init_app(app)
>>> app.add_url_rule("/metrics", view_func=metrics_view)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flask import Response, current_app

from .errors import ConfigurationError
from .signals import job_cancelled, job_failed, job_retried, job_started, job_succeeded

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Histogram,
        generate_latest,
        start_http_server,
    )
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    raise ConfigurationError(
        "Metrics need prometheus_client: pip install 'Flask-Handoff[metrics]'."
    ) from exc

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask

    from .extension import HandoffState
    from .job import Job

#: Seconds: from a mail's fraction of a second to an hour-long import.
BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class HandoffMetrics:
    """The registry of one app's metrics and the signal receivers that count."""

    def __init__(self, app: Flask) -> None:
        state: HandoffState | None = app.extensions.get("handoff")
        if state is None:
            raise ConfigurationError("Call handoff.init_app(app) before init_metrics(app).")
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            "handoff_job_duration_seconds",
            "How long a job's attempt ran, from its start to its end, by task.",
            ["task"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "handoff_job_queue_wait_seconds",
            "How long a job waited for a worker once it was due, by task.",
            ["task"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.ended = Counter(
            "handoff_jobs_ended",
            "Jobs that ended here, by task and final state.",
            ["task", "state"],
            registry=self.registry,
        )
        self.retries = Counter(
            "handoff_job_retries",
            "Failed attempts queued again (a retry, or a job whose worker died), by task.",
            ["task"],
            registry=self.registry,
        )
        self.registry.register(_TableCollector(state))
        for signal, receiver in (
            (job_started, self._started),
            (job_succeeded, self._ended),
            (job_failed, self._ended),
            (job_cancelled, self._ended),
            (job_retried, self._retried),
        ):
            signal.connect(receiver, sender=app, weak=False)

    def _started(self, _app: Any, job: Job, **_: Any) -> None:
        if job.started_at is not None:
            self.queue_wait.labels(job.task).observe(max(0.0, job.started_at - job.run_after))

    def _ended(self, _app: Any, job: Job, **_: Any) -> None:
        self.ended.labels(job.task, job.state).inc()
        if job.started_at is not None:
            ended = job.finished_at or time.time()
            self.duration.labels(job.task).observe(max(0.0, ended - job.started_at))

    def _retried(self, _app: Any, job: Job, **_: Any) -> None:
        self.retries.labels(job.task).inc()


class _TableCollector(Collector):
    """What the job table and the health checks say, read at each scrape."""

    def __init__(self, state: HandoffState) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        jobs = GaugeMetricFamily(
            "handoff_jobs", "Jobs in the table, by task and state.", labels=["task", "state"]
        )
        oldest = GaugeMetricFamily(
            "handoff_oldest_queued_seconds",
            "How long the longest-waiting due job of each queue has waited.",
            labels=["queue"],
        )
        up = GaugeMetricFamily(
            "handoff_up",
            "1 if the part (database, workers, broker, publisher) is ok or not this"
            " process's to run, else 0.",
            labels=["part"],
        )
        with self.state.app.app_context():
            health = self.state.ext.health()
            if health["database"] == "ok":
                for task, job_state, count in self.state.store.count_by_task_and_state():
                    jobs.add_metric([task, job_state], count)
                for queue, due in self.state.store.oldest_due_by_queue(now).items():
                    oldest.add_metric([queue], max(0.0, now - due))
        for part, status in health.items():
            up.add_metric([part], 1.0 if status in ("ok", "off") else 0.0)
        yield jobs
        yield oldest
        yield up


def init_metrics(app: Flask) -> HandoffMetrics:
    """Count this app's jobs from now on; once per app."""
    metrics: HandoffMetrics | None = app.extensions.get("handoff_metrics")
    if metrics is None:
        metrics = app.extensions["handoff_metrics"] = HandoffMetrics(app)
    return metrics


def metrics_view() -> Response:
    """The current app's metrics in Prometheus' text format: mount it where the operator
    wants it (and keep it from the public, as any metrics endpoint)."""
    metrics = init_metrics(current_app)
    return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)


def serve_metrics(app: Flask, port: int, address: str = "127.0.0.1") -> None:
    """Serve the app's metrics on ``address:port`` from a thread of this process: for a
    worker process, which has no web server of its own."""
    start_http_server(port, address, registry=init_metrics(app).registry)
