"""The service as ``scripts/serve`` runs it (gunicorn), under load, hostile uploads and a
crash: it answers, never with a 500, and nothing accepted is lost."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.load import run_load

from tests.conftest import alive, descendants

from . import hostile
from .live import LiveService, live_service, peak_rss_mb

pytestmark = pytest.mark.slow


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LiveService]:
    with live_service(tmp_path, PHONETOOL_MAX_UPLOAD_MB="256") as running:
        yield running


def test_200_concurrent_uploads_from_two_members_get_no_500(service: LiveService) -> None:
    report = run_load(service, 200)

    assert set(report["statuses"]) <= {"202", "429", "503"}, report
    assert report["refused_without_retry_after"] == 0
    assert report["accepted"] >= 20
    assert report["final_states"] == {"succeeded": report["accepted"]}
    assert report["operation_logs_exact"]


CORPUS = [
    (hostile.row_gap_bomb, "xlsx", "row numbered 1,000,000,000"),
    (hostile.column_bomb, "xlsx", "column ZZZZZZ"),
    (hostile.shared_strings_bomb, "xlsx", "more than 200x"),
    (hostile.billion_laughs_in_sheet, "xlsx", "declares a DTD"),
    (hostile.billion_laughs_in_shared_strings, "xlsx", "declares a DTD"),
    (hostile.xxe_in_sheet, "xlsx", "declares a DTD"),
    (hostile.xxe_in_shared_strings, "xlsx", "declares a DTD"),
    (hostile.long_line_of_short_fields, "csv", "longer than 4,194,304 characters"),
    (hostile.million_columns, "csv", "1,000,001 columns"),
]


def test_hostile_uploads_fail_their_own_jobs_while_the_server_stays_small_and_answers(
    service: LiveService, tmp_path: Path
) -> None:
    member = service.add_member("mallory@example.com")
    answering: list[int] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            status, _, _ = service.call("GET", "/api/jobs", headers=member.headers)
            answering.append(status)
            time.sleep(0.05)

    watcher = threading.Thread(target=keep_asking)
    watcher.start()
    try:
        jobs = []
        for make, suffix, message in CORPUS:
            path = make(tmp_path / f"{make.__name__}.{suffix}")
            status, _, body = service.upload(member, path.name, path.read_bytes())
            path.unlink()
            assert status == 202, body
            jobs.append((body["job_id"], message))
        ended = [(service.wait_final(member, job_id), message) for job_id, message in jobs]
    finally:
        stop.set()
        watcher.join()

    for job, message in ended:
        assert job["state"] == "failed"
        assert re.search(message, job["error"]), job["error"]
        assert job["attempts"] == 1  # a limit is final: not retried
        assert str(service.instance) not in job["error"]
    assert answering
    assert set(answering) == {200}
    for pid in service.worker_pids():
        assert peak_rss_mb(pid) < 300


def test_a_killed_server_leaves_no_process_and_the_job_completes_once_after_restart(
    tmp_path: Path,
) -> None:
    big = ("手机号\n" + "".join(f"138{i:08d}\n" for i in range(400_000))).encode()
    with live_service(tmp_path, PHONETOOL_JOB_LEASE_SECONDS="3") as service:
        member = service.add_member("alice@example.com")
        _, _, body = service.upload(member, "big.csv", big)
        job_id = body["job_id"]
        while True:  # until the pipeline has rows done
            _, _, job = service.call("GET", f"/api/jobs/{job_id}", headers=member.headers)
            if job["progress"] and job["progress"]["done"]:
                break
            time.sleep(0.05)
        assert service.process is not None
        pipeline = set()
        for worker in service.worker_pids():
            pipeline |= descendants(worker)
        assert pipeline  # the fork server, the job's process and its workers
        # The server only, its master first: a master that outlived its workers by a
        # moment started a new one, which kept the listening socket and reset the first
        # request to the restarted server (seen once in a full run).
        for pid in [service.process.pid, *service.worker_pids()]:
            os.kill(pid, signal.SIGKILL)
        service.process.wait()

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(map(alive, pipeline)):
            time.sleep(0.05)
        assert not [pid for pid in pipeline if alive(pid)]

        service.start()  # the same instance: stop, start again
        job = service.wait_final(member, job_id, timeout=180)
        results = sorted(p.name for p in (service.instance / "results" / job_id).iterdir())
        # The last entry is written once the job has ended: waited for, not taken as read.
        log = service.wait_for_log(member, "upload_deleted")
        server_log = service.log.read_text(errors="replace")

    assert job["state"] == "succeeded"
    assert job["attempts"] == 2
    assert job["summary"]["rows_in"] == 400_000
    assert results == ["big-checked.csv", "big-checked.xlsx"]  # nothing of attempt 1
    story = [e["operation_type"] for e in reversed(log["entries"])]
    # Seen once in a parallel run: no "process_retrying" at all. The server's warnings say
    # what recovered the job, for whoever meets it next.
    lines = [line for line in server_log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert story == [
        "upload_received",
        "process_started",
        "process_retrying",
        "process_started",
        "process_finished",
        "upload_deleted",
    ], "\n".join(lines[-40:])
    retry = next(e for e in log["entries"] if e["operation_type"] == "process_retrying")
    assert "进程丢失" in retry["operation_content"]
