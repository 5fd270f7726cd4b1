"""The service on a free port and its own instance folder, for tests and benchmarks that
need a real server: gunicorn with phonetool's config alone, or all of ``scripts/serve``
(nginx in front, the events process beside it) with ``front=True``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.conftest import children, free_port

BIN = Path(sys.executable).parent
#: The services this process started: a failed test shows the end of their logs
#: (tests/phonetool/conftest.py), which a timeout's traceback alone never says.
SERVICES: weakref.WeakSet[LiveService] = weakref.WeakSet()
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Member:
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(eq=False)  # hashed by identity: kept in SERVICES
class LiveService:
    instance: Path
    port: int
    env: dict[str, str]
    front: bool = False
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.instance / "server.log"
        SERVICES.add(self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.instance.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            command = (
                ["bash", str(ROOT / "scripts" / "serve")]
                if self.front
                else [str(BIN / "gunicorn"), "--config", "python:phonetool.gunicorn_conf"]
            )
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/api/openapi.json", timeout=2).read()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        raise RuntimeError(f"the service did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill_everything(self) -> None:
        """SIGKILL to the server and every worker process it started, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def worker_pids(self) -> list[int]:
        """The gunicorn worker processes: the ones that answer requests."""
        assert self.process is not None
        return children(self.process.pid)

    def flask(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "flask"), "--app", "phonetool", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def add_member(self, email: str) -> Member:
        """``flask users create --token``, run in this process on the service's settings:
        a ``flask`` process per member was ~1.9 s of CPU, most of it importing."""
        password = uuid.uuid4().hex
        created = self.flask_here(
            "users", "create", "--email", email, "--password", password, "--token"
        )
        return Member(email, password, created.splitlines()[-1])

    def flask_here(self, *args: str) -> str:
        """A ``flask`` command of the service's, in this process: the app is built on the
        service's environment, with no job pool, and its connections closed afterwards."""
        from phonetool import create_app
        from phonetool.extensions import handoff
        from phonetool.models import db

        with _environment(self.env):
            app = create_app({"HANDOFF_AUTOSTART": False, "PHONETOOL_AUTO_MIGRATE": False})
        try:
            result = app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result.output.strip()
        finally:
            with app.app_context():
                db.engine.dispose()
            handoff.shutdown(app, timeout=1)

    def call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 60,
    ) -> tuple[int, dict[str, str], Any]:
        """One request: status, headers and JSON body (or text) — a 4xx/5xx is returned."""
        req = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                status, got, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, got, raw = exc.code, dict(exc.headers), exc.read()
        except urllib.error.URLError as exc:  # say what the server said last
            running = self.process is not None and self.process.poll() is None
            tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
            raise ConnectionError(
                f"{method} {path}: {exc.reason}; server running: {running}\n{tail}"
            ) from exc
        try:
            return status, got, json.loads(raw)
        except ValueError:
            return status, got, raw.decode(errors="replace")

    def upload(
        self, member: Member, name: str, data: bytes, **fields: str
    ) -> tuple[int, dict[str, str], Any]:
        body, content_type = multipart({"file": (name, data), **fields})
        headers = {**member.headers, "Content-Type": content_type}
        return self.call("POST", "/api/uploads", headers=headers, body=body)

    def wait_for_log(self, member: Member, kind: str, timeout: float = 30) -> dict[str, Any]:
        """The member's operation log once it holds an entry of ``kind``."""
        deadline = time.monotonic() + timeout
        while True:
            _, _, log = self.call("GET", "/api/operation-logs", headers=member.headers)
            if any(e["operation_type"] == kind for e in log["entries"]):
                return dict(log)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {kind} in the log: {log['entries']}")
            time.sleep(0.2)

    def wait_final(self, member: Member, job_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            _, _, job = self.call("GET", f"/api/jobs/{job_id}", headers=member.headers)
            if job["state"] in ("succeeded", "failed", "cancelled"):
                return dict(job)
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['state']}")
            time.sleep(0.2)


def multipart(fields: dict[str, Any]) -> tuple[bytes, str]:
    """``fields``: text values, or (file name, bytes) for files. File names are sent as
    ``filename*`` (RFC 2231), which carries any character, CR and LF included."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, data = value
            head = (
                f'Content-Disposition: form-data; name="{name}";'
                f" filename*=UTF-8''{quote(filename, safe='')}\r\n"
                "Content-Type: application/octet-stream"
            )
        else:
            head, data = f'Content-Disposition: form-data; name="{name}"', value.encode()
        parts.append(f"--{boundary}\r\n{head}\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` over this process's environment for a moment (the service's settings are
    read from it when its app is built); only the keys it sets are put back, so another
    thread never sees the environment empty."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def live_service(tmp: Path, *, front: bool = False, **env: str) -> Iterator[LiveService]:
    """``front``: as ``scripts/serve`` starts it, the proxy and the events process too
    (the script's install steps only check, as under ``scripts/test``)."""
    port = free_port()
    instance = tmp / "instance"
    environment = {
        **os.environ,
        "PORT": str(port),
        "PHONETOOL_INSTANCE": str(instance),
        "PHONETOOL_BASE_URL": f"http://127.0.0.1:{port}",
        "PHONETOOL_MIN_FREE_MB": "1",  # the machine's free disk is not under test
        "HANDOFF_PYTHON_READY": "1",
        **env,
    }
    service = LiveService(instance, port, environment, front)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
