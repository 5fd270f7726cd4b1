"""Flask-Handoff as a Flask project adopts it: the built wheel and sdist pass ``twine
check`` and hold every file the package needs; installed into a clean environment that
already has Flask 3.0 and an older SQLAlchemy 2.0, it changes neither and brings none of
the service's packages; an app there hands off a job that sees its submitter; and the
checker runs with nothing but the package."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import redis_db, require_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: What the project already runs on: the lowest versions Flask-Handoff claims.
PROJECT_PINS = ["Flask==3.0.0", "Werkzeug==3.0.0", "SQLAlchemy==2.0.20"]
UV = Path(sys.executable).with_name("uv")
#: The service's packages, which a project that wants only jobs must not get.
SERVICE_ONLY = ["phonenumbers", "xlsxwriter", "gunicorn", "flask-babel", "openpyxl", "gevent"]


def _run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _pip(python: Path, *args: str | Path) -> str:
    """The user's installer, pip, run on the environment of ``python``: the project's
    environment is made by uv, without a pip of its own (pip's own install took ~3 s)."""
    return _run(
        sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", python, *args
    )


def _built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """``build(path)`` once per test run, whichever xdist worker asks first: the others
    wait for it and share the result (the package is built and installed once, not once
    per worker that runs one of these tests)."""
    shared = tmp_path_factory.getbasetemp().parent  # the same for every worker of a run
    path, ready = shared / name, shared / f"{name}.ready"
    with FileLock(shared / f"{name}.lock"):
        if not ready.exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            build(path)
            ready.touch()
    return path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The sdist, then the wheel built from it: what a user's pip would build. The build
    # environment is made by uv (pip's took half of the build's ~9 s).
    return _built_once(
        tmp_path_factory,
        "dist",
        lambda out: _run(sys.executable, "-m", "build", "--installer", "uv", "--outdir", out, ROOT),
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, dist: Path) -> Path:
    """A virtual environment with the project's own pins (set up by uv: what is there
    before), then the wheel, installed by pip (what is tested)."""

    def build(path: Path) -> None:
        venv = path / "venv"
        _run(UV, "venv", "-q", "--python", sys.executable, venv)
        python = venv / "bin" / "python"
        _run(UV, "pip", "install", "-q", "--compile-bytecode", "--python", python, *PROJECT_PINS)
        wheel = next(dist.glob("flask_handoff-*.whl"))
        _pip(python, "install", "-q", wheel)

    return _built_once(tmp_path_factory, "project", build) / "venv"


def test_the_wheel_and_sdist_pass_twine_and_hold_the_package(dist: Path) -> None:
    files = sorted(dist.iterdir())
    output = _run(sys.executable, "-m", "twine", "check", "--strict", *files)
    wheel = zipfile.ZipFile(next(dist.glob("flask_handoff-*.whl")))
    names = set(wheel.namelist())
    metadata = wheel.read(next(n for n in names if n.endswith("METADATA"))).decode()

    assert output.count("PASSED") == 2
    assert "flask_handoff/py.typed" in names
    assert "flask_handoff/migrations/versions/handoff_0001_jobs.py" in names
    assert "flask_handoff/migrations/script.py.mako" in names
    assert "flask_handoff/check/__main__.py" in names
    assert not [n for n in names if n.startswith("phonetool/")]
    assert "Requires-Dist: Flask>=3.0.0" in metadata
    requirements = [
        line.removeprefix("Requires-Dist: ").split(";")[0]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist")
    ]
    assert len(requirements) == 11  # eight, and one for each extra
    assert not [r for r in requirements if "==" in r]  # ranges, not pins


def test_installing_keeps_the_projects_versions_and_brings_nothing_else(project: Path) -> None:
    listed = _pip(project / "bin" / "python", "list", "--format=freeze").lower()
    _pip(project / "bin" / "python", "check")

    for pin in PROJECT_PINS:
        assert pin.lower() in listed
    assert not [name for name in SERVICE_ONLY if f"{name}==" in listed]


def test_an_app_in_that_environment_hands_off_a_job_that_sees_its_submitter(
    project: Path, tmp_path: Path
) -> None:
    app = tmp_path / "shop.py"
    app.write_text(
        textwrap.dedent(
            """
            import sys

            from flask import Flask, request
            from flask_handoff import Handoff, current_job
            from flask_handoff.testing import wait_for_job

            handoff = Handoff()


            @handoff.identity_loader
            def who():
                return request.headers.get("X-User")


            @handoff.task
            def export(report):
                return {"report": report, "for": current_job.identity}


            app = Flask(__name__)
            app.config["HANDOFF_DATABASE_URL"] = f"sqlite:///{sys.argv[1]}"


            @app.post("/export/<int:report>")
            def start(report):
                return {"job": export.submit(report).id}, 202


            handoff.init_app(app)
            job_id = app.test_client().post("/export/7", headers={"X-User": "alice"}).json["job"]
            job = wait_for_job(app, job_id)
            print(job.state, job.result["report"], job.result["for"])
            handoff.shutdown(app)
            """
        )
    )

    output = _run(project / "bin" / "python", app, tmp_path / "jobs.sqlite3", cwd=tmp_path)

    assert output.split() == ["succeeded", "7", "alice"]


def test_the_checker_runs_with_only_the_package(project: Path, tmp_path: Path) -> None:
    (tmp_path / "leaky.py").write_text(
        textwrap.dedent(
            """
            import threading

            from flask import Flask, request

            app = Flask(__name__)


            def work():
                print(request.path)


            @app.post("/go")
            def go():
                threading.Thread(target=work).start()
                return "", 202
            """
        )
    )

    done = subprocess.run(
        [str(project / "bin" / "python"), "-m", "flask_handoff.check", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "leaky.py" in done.stdout
    assert "request.path" in done.stdout


CELERY_APP = """
import os

from flask import Flask, request
from flask_handoff import Handoff, current_job

handoff = Handoff()


@handoff.identity_loader
def who():
    return request.headers.get("X-User")


@handoff.task
def export(report):
    return {"report": report, "for": current_job.identity, "worker": os.getpid()}


app = Flask(__name__)
app.config.update(
    HANDOFF_DATABASE_URL=os.environ["SHOP_DATABASE"],
    HANDOFF_BACKEND="celery",
    HANDOFF_CELERY_BROKER_URL=os.environ["SHOP_BROKER"],
)
handoff.init_app(app)


@app.post("/export/<int:report>")
def start(report):
    return {"job": export.submit(report).id}, 202
"""

SUBMIT = """
import os

from flask_handoff.testing import wait_for_job
from shop import app, handoff

job_id = app.test_client().post("/export/7", headers={"X-User": "alice"}).json["job"]
job = wait_for_job(app, job_id, timeout=60)
print(job.state, job.result["report"], job.result["for"], job.result["worker"] != os.getpid())
handoff.shutdown(app)
"""


def test_with_the_celery_extra_a_celery_worker_runs_the_job(project: Path, tmp_path: Path) -> None:
    broker = redis_db(require_env("HANDOFF_TEST_REDIS_URL", "Redis"), 7)
    # A copy of the project's environment, so the tests sharing it never see Celery.
    own = tmp_path / "venv"
    shutil.copytree(project, own, symlinks=True)
    python = own / "bin" / "python"
    # What the extra brings, put there by uv (pip took ~10 s): the extra's install is
    # not what is tested here, pip's keeping the project's versions is (above).
    _run(UV, "pip", "install", "-q", "--compile-bytecode", "--python", python, "celery[redis]>=5.3")
    (tmp_path / "shop.py").write_text(CELERY_APP)
    (tmp_path / "submit.py").write_text(SUBMIT)
    env = {
        **os.environ,
        "SHOP_DATABASE": f"sqlite:///{tmp_path / 'jobs.sqlite3'}",
        "SHOP_BROKER": broker,
        "PYTHONPATH": str(tmp_path),
    }
    worker = subprocess.Popen(
        [
            str(python),
            "-m",
            "flask",
            "--app",
            "shop",
            "handoff",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
        ],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
    )
    try:
        done = subprocess.run(
            [str(python), "submit.py"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["succeeded", "7", "alice", "True"]
