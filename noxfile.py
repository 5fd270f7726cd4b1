"""Flask-Handoff's version matrix: its own tests (tests/handoff) on the lowest version of
each dependency that pyproject.toml claims. The newest are constraints.txt's, on which
scripts/test runs the whole suite; scripts/test runs this session after it.

    .venv/bin/nox -s lowest        # PostgreSQL and Redis from scripts/test's environment

A lower bound is raised here and in pyproject.toml together, when this session says so.
"""

from __future__ import annotations

import os

import nox

# uv makes the environment and installs into it (~5 s; pip took ~40 s of CPU beside the
# main run). It is in scripts/test's environment, where nox runs (constraints.txt).
nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True

#: The lower bound of every range in pyproject.toml, extras included.
LOWEST = [
    "Flask==3.0.0",
    "Werkzeug==3.0.0",
    "SQLAlchemy==2.0.20",
    "alembic==1.12.0",
    "blinker==1.6.2",
    "click==8.1.3",
    "cryptography==41.0.0",
    "cronsim==2.6",
    "celery[redis]==5.3.0",
    "psycopg[binary]==3.1.12",
    "prometheus_client==0.17.1",
]
#: What the tests use beside the library, at the lock's versions.
TEST_TOOLS = [
    "pytest==9.2.0",
    "pytest-timeout==2.4.0",
    "pytest-xdist==3.8.0",
    "jsonschema==4.26.0",
    "Flask-Migrate==4.1.0",
    "Flask-SQLAlchemy==3.1.1",
]


@nox.session
def lowest(session: nox.Session) -> None:
    # Compiled now, not again in each process that imports it (bootstrap.sh says why).
    session.install("--compile-bytecode", *LOWEST, *TEST_TOOLS)
    # The library itself, with nothing else: the lowest versions must be enough.
    session.install("--no-deps", "-e", ".")
    session.run("uv", "pip", "check")
    session.run(
        "python",
        "-c",
        "import flask, sqlalchemy, celery, werkzeug;"
        " print('flask', flask.__version__ if hasattr(flask, '__version__') else '',"
        " 'sqlalchemy', sqlalchemy.__version__, 'celery', celery.__version__)",
    )
    # Each database and each backend once (tests/conftest.py): the pairs ran on the newest.
    session.run(
        "pytest",
        "tests/handoff",
        "-p",
        "no:cacheprovider",
        "-n",
        os.environ.get("HANDOFF_MATRIX_WORKERS", "4"),
        "--variants=paired",
        *session.posargs,
    )
