"""Many users at once, through a real threaded WSGI server on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import bearer

# On both databases, with the thread pool in this process. On Celery the same load, 1,000
# submissions at once over HTTP, runs on real worker processes in test_celery_backend.py;
# here it went to Celery's embedded worker and cost ~17 s of CPU to show it again.
pytestmark = pytest.mark.runs_on(backend="thread")


@pytest.fixture
def server(make_app: Any) -> Iterator[tuple[Flask, int]]:
    app = make_app(HANDOFF_POOL_SIZE=4)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield app, srv.server_port
    srv.shutdown()
    thread.join()


def test_every_job_carries_its_submitters_identity_under_concurrent_load(
    server: tuple[Flask, int],
) -> None:
    app, port = server
    local = threading.local()

    def submit(order_id: int) -> tuple[str, str]:
        user = "alice" if order_id % 2 else "bob"
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local.conn.request("POST", f"/orders/{order_id}", headers=bearer(user))
        response = local.conn.getresponse()
        body = json.loads(response.read())
        assert response.status == 202
        return body["job_id"], user

    with ThreadPoolExecutor(max_workers=16) as pool:
        submitted = list(pool.map(submit, range(1000)))

    mismatched = []
    for order_id, (job_id, user) in enumerate(submitted):
        job = wait_for_job(app, job_id, timeout=60)
        if (
            job.state != "succeeded"
            or job.identity != user
            or job.result
            != {
                "order_id": order_id,
                "user": user,
            }
        ):
            mismatched.append((order_id, user, job.state, job.result))
    assert mismatched == []
    assert len(submitted) == 1000
    background = sorted(entry for entry in sample.OPLOG if entry[1].startswith("processed"))
    expected = sorted(("alice" if i % 2 else "bob", f"processed order {i}") for i in range(1000))
    assert background == expected
