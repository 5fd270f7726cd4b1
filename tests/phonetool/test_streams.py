"""Open job pages are bounded, per member and in all, so they cannot take the threads
that uploads and lists need: a page over the bound is told so (429/503, Retry-After) and
follows its job by asking instead; a closed page gives its place back."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from .conftest import AppFactory, add_member
from .test_service import upload

# Seats are counted in the process, not in the database.
pytestmark = pytest.mark.runs_on(database="sqlite")


class _Page:
    """A job page holding its stream open, in a thread of its own as under a server (a
    begun stream keeps its request context pushed in the thread that reads it)."""

    def __init__(self, client: Any, job_id: str, headers: dict[str, str]) -> None:
        self._client, self._job_id, self._headers = client, job_id, headers
        self._opened, self._leave = threading.Event(), threading.Event()
        self.status_code = 0
        self.refusal: Any = None
        self._thread = threading.Thread(target=self._hold)
        self._thread.start()
        assert self._opened.wait(10)

    def _hold(self) -> None:
        url = f"/api/jobs/{self._job_id}/events"
        response = self._client.get(url, headers=self._headers, buffered=False)
        self.status_code = response.status_code
        if response.status_code == 200:
            assert next(iter(response.response)).startswith(b"event: status")
        else:
            self.refusal = response
        self._opened.set()
        self._leave.wait(10)
        response.close()

    def close(self) -> None:
        self._leave.set()
        self._thread.join()


def test_a_member_over_their_streams_gets_429_others_still_stream(make_app: AppFactory) -> None:
    app = make_app(HANDOFF_AUTOSTART=False, PHONETOOL_STREAMS_PER_MEMBER=2)
    client = app.test_client()
    alice, bob = add_member(app, "alice@example.com"), add_member(app, "bob@example.com")
    mine = upload(client, alice).get_json()["job_id"]  # queued: its stream stays open
    theirs = upload(client, bob).get_json()["job_id"]

    held = [_Page(client, mine, alice.headers) for _ in range(2)]
    refused = _Page(client, mine, alice.headers)
    other = _Page(client, theirs, bob.headers)
    held.pop().close()
    again = _Page(client, mine, alice.headers)

    assert refused.status_code == 429
    assert refused.refusal.get_json()["error"] == "too_many_streams"
    assert "2 job pages" in refused.refusal.get_json()["message"]
    assert int(refused.refusal.headers["Retry-After"]) > 0
    assert other.status_code == 200
    assert again.status_code == 200  # the closed page gave its place back
    for page in (other, again, refused, *held):
        page.close()


def test_the_server_over_its_streams_gets_503(make_app: AppFactory) -> None:
    app = make_app(HANDOFF_AUTOSTART=False, PHONETOOL_STREAMS_MAX=1)
    client = app.test_client()
    alice, bob = add_member(app, "alice@example.com"), add_member(app, "bob@example.com")
    mine = upload(client, alice).get_json()["job_id"]
    theirs = upload(client, bob).get_json()["job_id"]

    held = _Page(client, mine, alice.headers)
    refused = _Page(client, theirs, bob.headers)
    listed = client.get("/api/jobs", headers=bob.headers)
    held.close()
    refused.close()

    assert refused.status_code == 503
    assert refused.refusal.get_json()["error"] == "streams_busy"
    assert int(refused.refusal.headers["Retry-After"]) > 0
    assert listed.status_code == 200


def test_a_stream_never_begun_gives_its_place_back(make_app: AppFactory) -> None:
    app = make_app(HANDOFF_AUTOSTART=False, PHONETOOL_STREAMS_MAX=1)
    client = app.test_client()
    alice = add_member(app, "alice@example.com")
    job_id = upload(client, alice).get_json()["job_id"]

    for _ in range(3):  # opened and closed before reading a byte
        client.get(f"/api/jobs/{job_id}/events", headers=alice.headers, buffered=False).close()
    last = _Page(client, job_id, alice.headers)
    last.close()

    assert last.status_code == 200


def test_a_stream_ends_at_its_lifetime_and_the_page_connects_again(
    make_app: AppFactory,
) -> None:
    app = make_app(HANDOFF_AUTOSTART=False, PHONETOOL_EVENTS_SECONDS=1)
    client = app.test_client()
    alice = add_member(app, "alice@example.com")
    job_id = upload(client, alice).get_json()["job_id"]  # queued: nothing ends the stream

    started = time.monotonic()
    body = client.get(f"/api/jobs/{job_id}/events", headers=alice.headers).get_data(as_text=True)
    took = time.monotonic() - started

    assert body.startswith("event: status\n")
    assert "event: end" not in body  # not ended: the browser's EventSource reconnects
    assert 0.9 < took < 5
