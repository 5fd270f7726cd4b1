"""A phonetool app per test, on its own instance folder and SQLite database."""

from __future__ import annotations

import email
import os
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from phonetool import create_app
from phonetool.extensions import handoff
from phonetool.models import ApiToken, Member, db
from phonetool.schema import drop_all
from phonetool.token_use import token_use
from tests.conftest import IN_CI, require_env

from .pages import CHROMIUM, CHROMIUM_ARGS

AppFactory = Callable[..., Flask]

#: Passwords hashed in one round of PBKDF2, not scrypt's 0.1 s of CPU, in every app the
#: tests start, in this process and in the servers they start: the default's own test is
#: test_account.py's. At ~600 hashes a run, scrypt was a tenth of the suite's CPU.
FAST_PASSWORD_HASH = "pbkdf2:sha256:1"
os.environ.setdefault("PHONETOOL_PASSWORD_HASH", FAST_PASSWORD_HASH)
#: Jobs at the tests' own CPU priority: at the service's default, ten steps below, a job
#: got a tenth of a core beside the suite's other processes on two cores, and a test
#: waiting for it ran out of time (the default's own test is test_isolated.py's).
os.environ.setdefault("PHONETOOL_JOB_NICENESS", "0")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None: the embedded default (SQLite in the instance folder)."""
    if request.param == "sqlite":
        return None
    return require_env("HANDOFF_TEST_POSTGRES_URL", "PostgreSQL")


@pytest.fixture
def make_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None
) -> Iterator[AppFactory]:
    apps: list[Flask] = []

    def build(instance: str | None = None, **config: Any) -> Flask:
        """A new app, on a new instance folder unless ``instance`` names one."""
        folder = tmp_path / (instance or f"instance{len(apps)}")
        monkeypatch.setenv("PHONETOOL_INSTANCE", str(folder))
        if database_url:
            monkeypatch.setenv("DATABASE_URL", database_url)
        defaults = {
            "TESTING": True,
            "HANDOFF_POLL_INTERVAL": 0.05,
            "HANDOFF_RETRY_BACKOFF": 0.1,
            "HANDOFF_PROGRESS_INTERVAL": 0.05,
            "PHONETOOL_PIPELINE_WORKERS": 1,
            # The machine's free disk is not under test (but in test_admission).
            "PHONETOOL_MIN_FREE_MB": 1,
        }
        app = create_app({**defaults, **config})
        apps.append(app)
        return app

    yield build
    for app in apps:
        handoff.shutdown(app, timeout=5)
        # Written now, while its table exists: not by the app's thread a minute later,
        # into a dropped table and a closed log.
        token_use(app).flush(quiet=True)
        if database_url:  # the next test starts from empty tables
            with app.app_context():
                drop_all(db.engine)
                app.extensions["handoff"].store.drop_tables()
                db.engine.dispose()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class MemberHandle:
    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def add_member(app: Flask, email: str) -> MemberHandle:
    with app.app_context():
        member = Member(email=email, name=email.split("@")[0])
        member.set_password("correct horse")
        db.session.add(member)
        db.session.commit()
        row, plain = ApiToken.issue(member)
        db.session.add(row)
        db.session.commit()
        return MemberHandle(member.id, email, plain)


@pytest.fixture
def member(app: Flask) -> MemberHandle:
    return add_member(app, "alice@example.com")


@pytest.fixture
def other_member(app: Flask) -> MemberHandle:
    return add_member(app, "bob@example.com")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=default_policy)  # type: ignore[arg-type]
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[Any]:
    started: list[Controller] = []

    def start(port: int) -> Inbox:
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return inbox

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(scope="session")
def _chromium() -> Iterator[Callable[[], Any]]:
    """One Chromium per test process, launched again only if it went away: a launch is
    ~1.1 s of CPU, and 26 tests use a browser."""
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail("Chromium is missing: scripts/test installs the chromium package")
        pytest.skip("Chromium not installed: run the tests with scripts/test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser: Any = None

        def current() -> Any:
            nonlocal browser
            if browser is None or not browser.is_connected():
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            return browser

        yield current
        if browser is not None:
            browser.close()


@pytest.fixture
def browser(_chromium: Callable[[], Any]) -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright. Each test's pages are in browser contexts
    of their own (cookies, storage), closed after it."""
    chromium = _chromium()
    yield chromium
    for context in chromium.contexts:
        context.close()


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    """The test's app served on 127.0.0.1, for the browser."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


#: How much of a service's log a failed test shows.
LOG_TAIL_BYTES = 4000


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """A failed test that ran a live service shows the end of the service's log: what it
    did while the test waited (a traceback that ends in a poll or a timeout says nothing
    of why)."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    from .live import SERVICES

    for service in list(SERVICES):
        if service.log.exists():
            tail = service.log.read_bytes()[-LOG_TAIL_BYTES:].decode(errors="replace")
            report.sections.append((f"log of the service on port {service.port}", tail))
