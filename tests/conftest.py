"""Fixtures shared by every test package.

The suite runs in parallel (pytest-xdist, ``scripts/test``): each worker gets a
PostgreSQL database and a block of Redis databases of its own, so no two tests share a
table or a queue. Set up here, before any test module reads the environment.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"
#: Redis databases each xdist worker may use (``redis_db`` numbers 0 to 7 within it).
REDIS_DATABASES_PER_WORKER = 8


def worker_slot() -> int:
    """This xdist worker's number among every test run sharing the servers: scripts/test
    runs the version matrix beside the main run, its workers numbered from
    ``HANDOFF_TEST_FIRST_SLOT``, so that no two share a database, a Redis database or a
    block of ports."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw0", "gw1", ... under xdist
    return int(os.environ.get("HANDOFF_TEST_FIRST_SLOT", "0")) + int(worker.removeprefix("gw"))


def pytest_configure(config: pytest.Config) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    slot = worker_slot()
    postgres = os.environ.get("HANDOFF_TEST_POSTGRES_URL")
    if postgres:
        os.environ["HANDOFF_TEST_POSTGRES_URL"] = own_database(postgres, f"handoff_gw{slot}")
    redis_url = os.environ.get("HANDOFF_TEST_REDIS_URL")
    if redis_url:
        first = (slot + 1) * REDIS_DATABASES_PER_WORKER
        os.environ["HANDOFF_TEST_REDIS_URL"] = redis_url.rsplit("/", 1)[0] + f"/{first}"


#: The fixtures a test takes its database and its job backend from, by ``runs_on`` key.
_RUNS_ON = {"database": "database_url", "backend": "backend_name"}
#: The (database, backend) pairs a test free to run on any runs on. Not SQLite with
#: Celery: the store is the same code on either backend, and Celery with SQLite (one
#: machine's database under workers meant for several) has its own module,
#: ``tests/handoff/test_celery_backend.py``, with real worker processes.
_VARIANTS = {
    "all": [("sqlite", "thread"), ("postgresql", "thread"), ("postgresql", "celery")],
    # Each database once and each backend once: the version matrix (noxfile.py).
    "paired": [("sqlite", "thread"), ("postgresql", "celery")],
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--variants",
        choices=["all", "paired"],
        default="all",
        help="a test free to run on any database and backend runs on SQLite and "
        "PostgreSQL with threads and on PostgreSQL with Celery (all), or on SQLite with "
        "threads and PostgreSQL with Celery (paired: the version matrix, noxfile.py, "
        "where what differs is the libraries, not the pairs)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test runs on every database and backend its fixtures offer, unless it (or its
    module) can fail only on some and says which: ``pytest.mark.runs_on(database="sqlite",
    backend="thread")``. The rest would only repeat it."""
    marker = metafunc.definition.get_closest_marker("runs_on")
    if marker is None:
        _pair_variants(metafunc)
        return
    unknown = set(marker.kwargs) - set(_RUNS_ON)
    if unknown:
        raise pytest.UsageError(f"runs_on takes {sorted(_RUNS_ON)}, not {sorted(unknown)}")
    named = _parametrized_names(metafunc)
    for key, fixture in _RUNS_ON.items():
        wanted = marker.kwargs.get(key)
        if wanted is None or fixture not in metafunc.fixturenames or fixture in named:
            continue
        values = [wanted] if isinstance(wanted, str) else list(wanted)
        # Seen by pytest's own hooks, which run after this one: it takes the place of
        # the fixture's own params.
        metafunc.definition.add_marker(pytest.mark.parametrize(fixture, values, indirect=True))


def _parametrized_names(metafunc: pytest.Metafunc) -> set[str]:
    """The arguments the test parametrizes itself."""
    return {
        name.strip()
        for mark in metafunc.definition.iter_markers("parametrize")
        for name in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])
    }


def _pair_variants(metafunc: pytest.Metafunc) -> None:
    pairs = _VARIANTS[metafunc.config.getoption("variants")]
    fixtures = list(_RUNS_ON.values())
    named = _parametrized_names(metafunc)
    if all(f in metafunc.fixturenames for f in fixtures) and not named & set(fixtures):
        metafunc.definition.add_marker(
            pytest.mark.parametrize(
                fixtures, pairs, indirect=True, ids=["-".join(pair) for pair in pairs]
            )
        )


# The hang guard of a slow test (pyproject.toml's `timeout` is the others'). A timeout
# says a test hung, never that it was slow: the suite's end-to-end tests take 30-90 s
# beside the rest on two cores, and 120 s cut the 200-uploads and scaled-out tests short
# on a slower machine.
SLOW_TEST_TIMEOUT = 300


#: Set by ``scripts/bench suite`` (benchmarks/suite_cpu.py): each test's CPU in its own
#: pytest worker is written to this file with ``.tests`` added.
SUITE_CPU_LOG = os.environ.get("HANDOFF_SUITE_CPU_LOG")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """The CPU the worker process itself spent on a test, setup and teardown included
    (its threads too): the processes a test starts are counted by the accounting."""
    if SUITE_CPU_LOG is None:
        yield
        return
    started = time.process_time()
    yield
    with open(SUITE_CPU_LOG + ".tests", "a") as log:
        log.write(repr((item.nodeid, time.process_time() - started)) + "\n")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, in every worker: in a parallel run they start at once, and
    the short ones fill the gaps beside them, instead of one starting last and keeping the
    run waiting. pytest-xdist's worksteal gives each of its N workers one contiguous Nth
    of this list to start with; so the slow tests are dealt out by file, each Nth
    starting with its share (sorted to the front of one list, all of them went to the
    first worker, and the last of them started in the run's last minute)."""
    slow_files: dict[str, list[pytest.Item]] = {}
    quick = []
    for item in items:
        if item.get_closest_marker("slow") is None:
            quick.append(item)
        else:
            slow_files.setdefault(item.nodeid.split("::")[0], []).append(item)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(SLOW_TEST_TIMEOUT))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    # A file's slow tests stay together (its module fixtures start once): the largest
    # file goes to the share with the fewest tests so far.
    shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for tests in sorted(slow_files.values(), key=len, reverse=True):
        min(shares, key=len).extend(tests)
    ordered: list[pytest.Item] = []
    for i, share in enumerate(shares):
        # Worksteal's split: the i-th of N gets len // (N - i) of what is left.
        size = (len(items) - len(ordered)) // (workers - i)
        taken = max(0, size - len(share))
        ordered += share + quick[:taken]
        del quick[:taken]
    items[:] = ordered + quick


def own_database(url: str, name: str, *, empty: bool = False) -> str:
    """The URL of database ``name`` on the same server, created if missing; with
    ``empty``, made anew (what an earlier run on the same server left is gone)."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    plain = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as connection:
        if empty:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False)


def redis_db(url: str, number: int) -> str:
    """Database ``number`` (0 to 7) of this worker's block on the same Redis server: each
    user of Redis in a test its own."""
    assert 0 <= number < REDIS_DATABASES_PER_WORKER
    base, first = url.rsplit("/", 1)
    return f"{base}/{int(first or 0) + number}"


#: Ports below the system's ephemeral range (32768 and up on Linux), a block per xdist
#: worker: a port a test lets go of (a server it kills and starts again on the same port)
#: cannot be taken meanwhile by another worker's server, nor by an outgoing connection.
_PORT_BLOCK = 1000
_PORT_BASE = 20000
_next_port = 0


def free_port() -> int:
    """A port no one listens on, from this worker's own block."""
    global _next_port
    first = _PORT_BASE + worker_slot() % 12 * _PORT_BLOCK
    for _ in range(_PORT_BLOCK):
        port = first + _next_port
        _next_port = (_next_port + 1) % _PORT_BLOCK
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{first + _PORT_BLOCK - 1}")


def require_env(name: str, what: str) -> str:
    """The URL of a real service started by scripts/test; skip (never in CI) without it."""
    value = os.environ.get(name)
    if not value:
        if IN_CI:
            pytest.fail(f"{name} is not set: scripts/test starts {what} for CI")
        pytest.skip(f"{what} not running: run the tests with scripts/test to start it")
    return value


def descendants(pid: int) -> set[int]:
    """Every process started by ``pid``, its children's children included."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running: not gone, and not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
