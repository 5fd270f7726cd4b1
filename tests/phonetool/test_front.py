"""The front door as ``scripts/serve`` starts it: nginx before gunicorn, open job pages on
the events process. Slow clients and over-limit uploads are met by the proxy; what the
service answers reaches curl, ``requests`` and ``http.client`` alike.

The server here has one process of 4 threads (a small machine's): without the proxy, a
handful of slow clients would hold every thread.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .live import LiveService, live_service, multipart

pytestmark = pytest.mark.slow

LIMIT_MB = 2
#: Seconds an answer may take while slow clients trickle in: well under the 10 s a
#: request that waited behind them would take (the clients' timeout), well over what a
#: busy machine adds to a quick answer (the 2 s this was stood on the proxy's timeouts).
STARVED = 8


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with live_service(
        tmp_path_factory.mktemp("front"),
        front=True,
        WEB_CONCURRENCY="1",
        PHONETOOL_WEB_THREADS="4",
        PHONETOOL_PROXY_HEADER_TIMEOUT="2",
        PHONETOOL_PROXY_BODY_TIMEOUT="2",
        PHONETOOL_MAX_UPLOAD_MB=str(LIMIT_MB),
        PHONETOOL_RUN_JOBS="0",  # uploads stay queued: a second one is over the limit
        PHONETOOL_MAX_ACTIVE_PER_MEMBER="1",
    ) as service:
        yield service


def _csv(size: int) -> bytes:
    line = b"13812345678,x\n"
    return "手机号,备注\n".encode() + line * (size // len(line))


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed this connection (anything it sent first is read)."""
    sock.settimeout(0.2)
    try:
        while sock.recv(65536):
            pass
        return True
    except TimeoutError:
        return False
    except OSError:  # reset
        return True


def test_slow_headers_are_cut_off_while_everyone_else_is_answered(front: LiveService) -> None:
    slow = [socket.create_connection(("127.0.0.1", front.port)) for _ in range(100)]
    for sock in slow:
        sock.sendall(b"GET /api/session HTTP/1.1\r\nHost: x\r\n")
    answers = []
    started = time.monotonic()
    while time.monotonic() - started < 4:
        for sock in slow:
            with contextlib.suppress(OSError):  # cut off already
                sock.sendall(b"X-Slow: 1\r\n")  # one header line a second, never the end
        asked = time.monotonic()
        status, _, _ = front.call("GET", "/api/session", timeout=10)
        answers.append((status, time.monotonic() - asked))
        time.sleep(1)
    closed = sum(_closed(sock) for sock in slow)
    for sock in slow:
        sock.close()

    assert [status for status, _ in answers] == [401] * len(answers)
    # Not a speed target: a request queued behind the slow ones would wait for the
    # client's 10 s timeout; the margin below it is for a busy machine.
    assert max(took for _, took in answers) < STARVED
    assert closed == 100  # the header timeout (2 s here) ended every one of them


def test_slow_bodies_never_reach_the_application(front: LiveService) -> None:
    alice = front.add_member("slow-body@example.com")
    bob = front.add_member("lists@example.com")
    # The server (and its log) is the module's: this test reads only what it adds.
    log_start = front.log.stat().st_size
    head = (
        f"POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice.token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    slow = [socket.create_connection(("127.0.0.1", front.port)) for _ in range(40)]
    for sock in slow:
        sock.sendall(head)
    answers = []
    for _ in range(6):
        for sock in slow:
            # A byte at a time, not idle long enough to be cut off (unless a busy machine
            # kept the round past the body timeout: then the proxy ended it, unforwarded).
            with contextlib.suppress(OSError):
                sock.sendall(b"-")
        asked = time.monotonic()
        listed, _, _ = front.call("GET", "/api/jobs", headers=bob.headers, timeout=10)
        uploaded, _, _ = front.upload(bob, "orders.csv", _csv(1000))
        answers.append((listed, uploaded, time.monotonic() - asked))
        time.sleep(0.5)
    for sock in slow:
        sock.close()
    upload_lines = _logged(front, log_start, '"POST /api/uploads', at_least=6)

    assert all(listed == 200 for listed, _, _ in answers)
    assert [uploaded for _, uploaded, _ in answers] == [202] + [429] * 5  # one may wait
    assert max(took for _, _, took in answers) < STARVED
    # gunicorn saw bob's six uploads, none of alice's 40 bodies still on their way.
    assert len(upload_lines) == 6


def _logged(front: LiveService, start: int, marker: str, *, at_least: int) -> list[str]:
    """The lines of the server's access log after byte ``start`` that contain ``marker``,
    once ``at_least`` of them are there (10 s at most): gunicorn writes a request's line
    after it has sent the response, so the client can read the answer first."""
    deadline = time.monotonic() + 10
    while True:
        text = front.log.read_bytes()[start:].decode(errors="replace")
        lines = [line for line in text.splitlines() if marker in line]
        if len(lines) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _curl(url: str, token: str, path: Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [
            "curl",
            "-s",
            "-H",
            f"Authorization: Bearer {token}",
            "-F",
            f"file=@{path}",
            "-w",
            "\n%{http_code}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


def _requests(url: str, token: str, path: Path) -> tuple[int, dict[str, Any]]:
    with path.open("rb") as file:
        response = requests.post(
            url,
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (path.name, file)},
            timeout=60,
        )
    return response.status_code, response.json()


def _http_client(url: str, token: str, path: Path) -> tuple[int, dict[str, Any]]:
    body, content_type = multipart({"file": (path.name, path.read_bytes())})
    host, port = url.split("/")[2].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    connection.request("POST", "/api/uploads", body=body, headers=headers)
    response = connection.getresponse()
    answer = response.status, json.loads(response.read())
    connection.close()
    return answer


CLIENTS = {"curl": _curl, "requests": _requests, "http.client": _http_client}


@pytest.mark.parametrize("client", CLIENTS)
def test_a_file_over_the_limit_gets_413_with_its_reason(
    front: LiveService, tmp_path: Path, client: str
) -> None:
    member = front.add_member(f"large-{client}@example.com")
    big = tmp_path / "orders.csv"
    big.write_bytes(_csv((LIMIT_MB + 8) * 1024 * 1024))

    status, body = CLIENTS[client](front.url + "/api/uploads", member.token, big)

    assert status == 413
    assert body["error"] == "request_entity_too_large"
    assert f"{LIMIT_MB} MB" in body["message"]


@pytest.mark.parametrize("client", CLIENTS)
def test_an_upload_over_the_members_limit_gets_429_with_its_reason(
    front: LiveService, tmp_path: Path, client: str
) -> None:
    member = front.add_member(f"busy-{client}@example.com")
    queued = tmp_path / "first.csv"
    queued.write_bytes(_csv(1000))
    second = tmp_path / "second.csv"
    second.write_bytes(_csv(LIMIT_MB * 1024 * 1024 * 3 // 4))  # large, within the limit

    first_status, _ = CLIENTS[client](front.url + "/api/uploads", member.token, queued)
    status, body = CLIENTS[client](front.url + "/api/uploads", member.token, second)

    assert first_status == 202
    assert status == 429
    assert body["error"] == "too_many_uploads"


def test_static_files_come_from_the_proxy(front: LiveService) -> None:
    status, headers, text = front.call("GET", "/static/app.js")
    page_status, page_headers, _ = front.call("GET", "/")

    assert status == 200
    assert "function" in text
    assert "X-Request-Id" not in headers  # gunicorn never saw it
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert page_status == 200
    assert "X-Request-Id" in page_headers


def test_a_job_page_stream_passes_through_unbuffered(front: LiveService) -> None:
    member = front.add_member("stream@example.com")
    _, _, upload = front.upload(member, "orders.csv", _csv(1000))
    connection = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
    connection.request("GET", f"/api/jobs/{upload['job_id']}/events", headers=member.headers)
    response = connection.getresponse()
    first = response.readline()  # the job is queued: the stream stays open after it
    connection.close()

    assert response.status == 200
    assert first == b"event: status\n"


def test_a_forwarded_for_header_from_the_client_is_not_believed(front: LiveService) -> None:
    log_start = front.log.stat().st_size
    front.call("GET", "/api/session", headers={"X-Forwarded-For": "203.0.113.9"})

    last = _logged(front, log_start, "/api/session", at_least=1)[-1]

    assert last.startswith("127.0.0.1 ")


def test_the_page_shows_why_an_upload_was_refused(
    front: LiveService, browser: Any, tmp_path: Path
) -> None:
    member = front.add_member("page@example.com")
    orders = tmp_path / "orders.csv"
    orders.write_bytes(_csv(1000))
    page = browser.new_page()
    page.goto(front.url + "/")
    page.fill("#sign-in input[name=email]", member.email)
    page.fill("#sign-in input[name=password]", member.password)
    page.click("#sign-in button")
    page.wait_for_selector("#app:not([hidden])")

    page.set_input_files("#upload input[name=file]", str(orders))
    page.click("#upload button")  # queued: jobs do not run here
    page.wait_for_selector("#jobs a.job-link")
    page.set_input_files("#upload input[name=file]", str(orders))
    page.click("#upload button")  # over the member's limit: 429, through the proxy

    page.wait_for_selector("#upload-error:has-text('uploads waiting or in progress')")
