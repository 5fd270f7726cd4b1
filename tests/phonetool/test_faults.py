"""Faults injected into the scaled-out service, each while uploads are queued and one is
running: a worker's main process killed, a job's own process killed, Redis restarted
without persistence, PostgreSQL away for 15 s, the publisher killed. After each, every
accepted upload ends succeeded exactly once, with one mail and a log that says what
happened; at the end no process and no uploaded file is left behind.

The topology is ``scripts/scale``'s, built here so the faults can reach it: a web server
and a Celery worker (each a process of its own), a Redis of this module's own, and
PostgreSQL reached through a relay that can cut it off (tests/outage.py). The web server
restarted by a supervisor is tests/phonetool/test_scale.py's.

With ``HANDOFF_FAULTS_REPORT`` set to a file, each fault's row (how long until every job
was back on track; jobs lost, run twice, stuck) is written there (``scripts/bench faults``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import alive, children, descendants, free_port, own_database, require_env
from tests.outage import Relay

from .live import LiveService, Member
from .test_service import GOOD

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
# Seconds a dead worker's job waits before it is taken up again; longer than the
# PostgreSQL outage below, which a running job must outlast on its lease.
LEASE = 20
RESEND = 5  # seconds: a message Redis lost is sent again this soon
BIG_ROWS = 150_000  # a list that takes a few seconds: running when the fault comes


def _orders(rows: int) -> bytes:
    lines = [f"DY{i:08d},138{i % 10**8:08d},12.50" for i in range(rows)]
    return ("订单号,手机号,金额\n" + "\n".join(lines) + "\n").encode()


BIG = _orders(BIG_ROWS)


@dataclass
class Topology:
    root: Path
    relay: Relay
    env: dict[str, str]
    redis_port: int
    web_port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: list[int] = field(default_factory=list)

    @property
    def service(self) -> LiveService:
        service = LiveService(self.root / "instance", self.web_port, self.env)
        service.process = self.processes["web"]
        service.log = self.root / "web.log"
        return service

    def start(self, name: str) -> None:
        redis = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port)]
        worker = [
            str(BIN / "flask"),
            "--app",
            "phonetool",
            "handoff",
            "worker",
            "--pool",
            "threads",
        ]
        commands = {
            "redis": [*redis, "--save", "", "--appendonly", "no"],
            "web": [str(BIN / "gunicorn"), "--config", "python:phonetool.gunicorn_conf"],
            # Pipelines and mails alike (scripts/scale gives mails a worker of their own).
            "worker": [*worker, "--queues", "default,mail", "-c", "2", "--loglevel", "WARNING"],
        }
        with (self.root / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                commands[name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        self.started.append(process.pid)
        if name == "web":
            self._until(lambda: _answers(self.service), "the web server answers")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        if sig == signal.SIGKILL:
            os.kill(process.pid, sig)  # the main process only, as a crash takes it
        else:
            os.killpg(process.pid, sig)
        process.wait(60)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    def _until(self, check: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
            time.sleep(0.2)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _answers(service: LiveService) -> bool:
    try:
        return service.call("GET", "/healthz", timeout=2)[0] == 200
    except (ConnectionError, OSError):
        return False


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    postgres = require_env("HANDOFF_TEST_POSTGRES_URL", "PostgreSQL")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    relay, through = Relay.to_url(own_database(postgres, f"handoff_faults_{worker}", empty=True))
    root = tmp_path_factory.mktemp("faults")
    redis_port, web_port = free_port(), free_port()
    env = {
        **os.environ,
        "HANDOFF_PYTHON_READY": "1",
        "PORT": str(web_port),
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": through,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "PHONETOOL_JOB_BACKEND": "celery",
        "PHONETOOL_INSTANCE": str(root / "instance"),
        "PHONETOOL_BASE_URL": f"http://127.0.0.1:{web_port}",
        "PHONETOOL_MIN_FREE_MB": "1",
        "PHONETOOL_PIPELINE_WORKERS": "1",
        "PHONETOOL_JOB_LEASE_SECONDS": str(LEASE),
        "HANDOFF_CELERY_RESEND_AFTER": str(RESEND),
    }
    topology = Topology(root, relay, env, redis_port, web_port)
    subprocess.run(
        [str(BIN / "flask"), "--app", "phonetool", "schema", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    for name in ("redis", "web", "worker"):
        topology.start(name)
    try:
        yield topology
    finally:
        topology.stop_all()
        relay.close()
    spool = root / "instance" / "handoff-spool"
    left = [p for p in spool.rglob("*") if p.is_file()] if spool.exists() else []
    assert not left, f"uploads left behind: {left}"
    assert not [pid for pid in topology.started if alive(pid)]


def _batch(service: LiveService, member: Member, tag: str) -> list[str]:
    """One large upload (running when the fault comes) and three small ones behind it."""
    ids = []
    for i, data in enumerate((BIG, GOOD, GOOD, GOOD)):
        status, _, body = service.upload(
            member, f"{tag}-{i}.csv", data, receiver_email=f"{tag}@example.com"
        )
        assert status == 202, body
        ids.append(body["job_id"])
    return ids


def _when_running(service: LiveService, member: Member, job_id: str) -> None:
    deadline = time.monotonic() + 60
    while service.call("GET", f"/api/jobs/{job_id}", headers=member.headers)[2]["state"] != (
        "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _call_through_outage(service: LiveService, member: Member, path: str) -> Any:
    """A GET tried again while the service answers 503 (its database away)."""
    deadline = time.monotonic() + 120
    while True:
        status, _, body = service.call("GET", path, headers=member.headers)
        if status == 200:
            return body
        assert status == 503, (status, body)
        assert time.monotonic() < deadline, "the database is still away after 120 s"
        time.sleep(0.5)


def _settled(
    topology: Topology, member: Member, ids: list[str], tag: str, fault: str, since: float
) -> None:
    """Every upload ended succeeded exactly once, with one mail; the row for the report."""
    service = topology.service
    deadline = time.monotonic() + 180
    stuck: list[str] = []
    for job_id in ids:
        while True:
            job = _call_through_outage(service, member, f"/api/jobs/{job_id}")
            mail = job["mail"]["state"] if job["mail"] else None
            if job["state"] in ("succeeded", "failed", "cancelled") and mail in ("sent", "failed"):
                break
            if time.monotonic() > deadline:
                stuck.append(job_id)
                break
            time.sleep(0.2)
    back = time.monotonic() - since
    jobs = [_call_through_outage(service, member, f"/api/jobs/{i}") for i in ids]
    twice, lost = [], []
    for job in jobs:
        log = _call_through_outage(service, member, f"/api/operation-logs?job_id={job['job_id']}")
        kinds = [entry["operation_type"] for entry in log["entries"]]
        if kinds.count("process_finished") > 1 or kinds.count("mail_sent") > 1:
            twice.append(job["job_id"])
        if job["state"] != "succeeded" or kinds.count("mail_sent") != 1:
            lost.append(job["job_id"])
    outbox = topology.root / "instance" / "outbox"
    mails = [p.read_text(errors="replace") for p in outbox.glob("*.eml")]
    mailed = sum(1 for text in mails if f"To: {tag}@example.com" in text)
    _report(fault, back, len(ids), len(lost), len(twice), len(stuck))

    assert not stuck, f"{fault}: still not done after 180 s: {stuck}"
    assert not lost, f"{fault}: {[(j['job_id'], j['state'], j['error']) for j in jobs]}"
    assert not twice, f"{fault}: processed or mailed twice: {twice}"
    assert mailed == len(ids), f"{fault}: {mailed} mails for {len(ids)} uploads"


def _report(fault: str, seconds: float, jobs: int, lost: int, twice: int, stuck: int) -> None:
    path = os.environ.get("HANDOFF_FAULTS_REPORT")
    if path:
        row = {"fault": fault, "seconds": round(seconds, 1), "jobs": jobs}
        row |= {"lost": lost, "twice": twice, "stuck": stuck}
        with open(path, "a") as out:
            out.write(json.dumps(row) + "\n")


def test_a_workers_main_process_killed(topology: Topology) -> None:
    service = topology.service
    member = service.add_member("worker-killed@example.com")
    ids = _batch(service, member, "worker-killed")
    _when_running(service, member, ids[0])

    topology.kill("worker")  # SIGKILL to its main process, mid-job
    since = time.monotonic()
    topology.start("worker")  # as a supervisor does

    _settled(topology, member, ids, "worker-killed", "worker killed", since)


def test_a_jobs_own_process_killed(topology: Topology) -> None:
    service = topology.service
    member = service.add_member("job-killed@example.com")
    ids = _batch(service, member, "job-killed")
    _when_running(service, member, ids[0])
    worker = topology.processes["worker"].pid
    forkservers = [pid for pid in descendants(worker) if b"forkserver" in _cmdline(pid)]
    jobs = [pid for server in forkservers for pid in children(server)]
    assert jobs, "no job process found"

    for pid in jobs:
        os.kill(pid, signal.SIGKILL)
    since = time.monotonic()

    _settled(topology, member, ids, "job-killed", "job process killed", since)


def test_redis_restarted_without_persistence(topology: Topology) -> None:
    service = topology.service
    member = service.add_member("redis-restarted@example.com")
    topology.kill("worker", signal.SIGTERM)  # nobody takes the messages: they wait in Redis
    ids = _batch(service, member, "redis-restarted")

    topology.kill("redis")  # and are lost with it
    topology.start("redis")
    since = time.monotonic()
    topology.start("worker")

    _settled(topology, member, ids, "redis-restarted", "redis restarted", since)
    jobs = [service.call("GET", f"/api/jobs/{i}", headers=member.headers)[2] for i in ids]
    assert [job["attempts"] for job in jobs] == [1] * len(ids)  # sent again, run once


def test_postgresql_away_for_15_seconds(topology: Topology) -> None:
    service = topology.service
    member = service.add_member("postgres-away@example.com")
    ids = _batch(service, member, "postgres-away")
    _when_running(service, member, ids[0])

    topology.relay.cut()
    time.sleep(15)
    topology.relay.restore()
    since = time.monotonic()

    _settled(topology, member, ids, "postgres-away", "postgres away", since)
    running = service.call("GET", f"/api/jobs/{ids[0]}", headers=member.headers)[2]
    assert running["attempts"] == 1  # it went on through the outage, not again after it


def test_the_publisher_killed(topology: Topology) -> None:
    service = topology.service
    member = service.add_member("publisher-killed@example.com")
    web = topology.processes["web"].pid
    publishers = [pid for pid in descendants(web) if b"celery.publisher" in _cmdline(pid)]
    assert publishers, "no publisher found"

    for pid in publishers:
        os.kill(pid, signal.SIGKILL)
    since = time.monotonic()
    ids = _batch(service, member, "publisher-killed")

    _settled(topology, member, ids, "publisher-killed", "publisher killed", since)
