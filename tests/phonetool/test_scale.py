"""A newcomer's try of the scaled-out topology: ``scripts/scale`` starts PostgreSQL,
Redis, the web server and two Celery workers; an upload made through it completes on a
Celery worker; a worker and the web server killed outright are started again while the
rest goes on; Ctrl-C leaves nothing running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import alive, descendants, free_port

from .live import LiveService, Member
from .test_service import GOOD

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_scaled_out_command_runs_an_upload_on_a_celery_worker(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "PHONETOOL_INSTANCE": str(tmp_path / "instance"),
        "PHONETOOL_MIN_FREE_MB": "1",  # the machine's free disk is not under test
    }
    log = tmp_path / "scale.log"
    with log.open("wb") as out:
        script = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "scale")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        token = _wait_for(log, r"API token \(shown once\): (\S+)", script)
        _wait_for(log, r"Ctrl-C stops everything", script)
        service = LiveService(tmp_path / "instance", port, env)
        service.process = script
        service.log = log
        member = Member("member@example.com", "", token)
        deadline = time.monotonic() + 60
        while True:  # until gunicorn answers
            try:
                status, _, body = service.upload(member, "订单.csv", GOOD)
                break
            except ConnectionError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        assert status == 202, body
        job = service.wait_final(member, body["job_id"], timeout=120)

        supervisor = [
            str(ROOT / ".venv" / "bin" / "supervisorctl"),
            "-c",
            str(tmp_path / "instance" / "run" / "supervisord.conf"),
        ]
        killed = {}
        for name in ("worker1", "web"):
            killed[name] = _pid(supervisor, name)
            os.kill(killed[name], signal.SIGKILL)
        restarted = {name: _restarted(supervisor, name, pid) for name, pid in killed.items()}
        after = _upload_when_ready(service, member)
        second = service.wait_final(member, after["job_id"], timeout=120)
        everything = descendants(script.pid)
    finally:
        os.killpg(script.pid, signal.SIGINT)
        script.wait(90)

    assert job["state"] == "succeeded", job
    assert job["summary"]["valid"] == 2
    assert "worker1@" in log.read_text()
    assert all(pid != killed[name] for name, pid in restarted.items())
    assert "exited: worker1 (terminated by SIGKILL; not expected)" in log.read_text()
    assert second["state"] == "succeeded", second
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(map(alive, everything)):
        time.sleep(0.2)
    assert not [pid for pid in everything if alive(pid)], log.read_text()[-2000:]


def _pid(supervisor: list[str], name: str) -> int:
    done = subprocess.run([*supervisor, "pid", name], capture_output=True, text=True)
    return int(done.stdout.strip() or 0)


def _restarted(supervisor: list[str], name: str, old: int) -> int:
    """The program's new process id, once supervisord says it runs again."""
    deadline = time.monotonic() + 60
    while True:
        status = subprocess.run([*supervisor, "status", name], capture_output=True, text=True)
        pid = _pid(supervisor, name)
        if "RUNNING" in status.stdout and pid not in (0, old):
            return pid
        assert time.monotonic() < deadline, status.stdout
        time.sleep(0.5)


def _upload_when_ready(service: LiveService, member: Member) -> dict[str, str]:
    """An upload, tried until the restarted web server takes it (a 503 meanwhile)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            status, _, body = service.upload(member, "订单.csv", GOOD)
            if status == 202:
                return dict(body)
        except ConnectionError:
            pass
        assert time.monotonic() < deadline, service.log.read_text()[-3000:]
        time.sleep(0.5)


def _wait_for(log: Path, pattern: str, script: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 300
    while True:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found.group(1) if found.groups() else found.group(0)
        assert script.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
