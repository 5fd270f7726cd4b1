"""Where the test suite's CPU goes: every process it starts, by kind and by test.

The suite on two cores is bound by CPU, not by waiting, so its wall time is about half the
CPU its processes use. pytest's own timings show where a test waited, not what it cost;
most of the cost is in the processes tests start (servers, workers, publishers, fork
servers, pipelines), which pytest never sees. So this runs ``scripts/test`` with the
kernel's process accounting on (``accton``, Debian's ``acct`` package, as root): each
process that ends leaves its CPU time, its parent and its name. A ``.pth`` file in the
virtualenv (there only for the run) has each Python process write its command line and
the test it was started in (pytest's ``PYTEST_CURRENT_TEST``, inherited from the pytest
worker) beside it. Forked children (pipeline workers, Celery's pool, PostgreSQL's
backends) count toward the command that forked them. The pytest workers write the CPU
they spent on each test themselves (tests/conftest.py), so a test's cost is both: what
ran in its worker and what it started.

Run by ``scripts/bench suite`` (about ten minutes); prints JSON; ``--markdown FILE``
also writes the report. Arguments after ``--`` go to ``scripts/test`` (one file's cost:
``-- tests/handoff/test_store.py``).
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PTH_NAME = "zz_handoff_suite_cpu.pth"
LOG_VARIABLE = "HANDOFF_SUITE_CPU_LOG"
# Inert unless the variable is set: a file left behind by a run cut short costs nothing.
PTH_LINE = (
    "import os, sys; p = os.environ.get('" + LOG_VARIABLE + "'); p and open(p, 'a').write("
    "repr((os.getpid(), sys.orig_argv, os.environ.get('PYTEST_CURRENT_TEST', ''))) + '\\n')\n"
)
TICKS = 100  # dump-acct prints times in clock ticks
XDIST = "pytest-xdist worker (the tests themselves)"


@dataclass
class Process:
    pid: int
    ppid: int
    name: str
    cpu: float
    forked: bool  # a fork that never called exec: its parent's command


def read_accounting(text: str) -> list[Process]:
    """``dump-acct``'s lines: name|version|user|system|elapsed|uid|gid|mem|io|pid|ppid|flags."""
    processes = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) < 12 or fields[1] != "v3":
            continue
        processes.append(
            Process(
                pid=int(fields[9]),
                ppid=int(fields[10]),
                name=fields[0],
                cpu=(float(fields[2]) + float(fields[3])) / TICKS,
                forked="F" in fields[11],
            )
        )
    return processes


def read_commands(text: str) -> dict[int, tuple[list[str], str]]:
    """pid -> (command line, test it started in), as the ``.pth`` line wrote them."""
    commands = {}
    for line in text.splitlines():
        pid, argv, test = ast.literal_eval(line)
        commands[pid] = (list(argv), test)
    return commands


def kind_of(argv: list[str]) -> str:
    """A short name for a Python command line, the same for every run of the same command."""
    args = argv[1:]
    while args and args[0].startswith("-") and args[0] not in ("-c", "-m"):
        args = args[1:]  # interpreter options (-u, -X ...)
    if args[:1] == ["-c"] and len(args) > 1:
        code = args[1]
        for marker, name in (
            ("forkserver", "multiprocessing fork server (phone data preloaded)"),
            ("resource_tracker", "multiprocessing resource tracker"),
            ("publisher import main", "Flask-Handoff publisher process"),
            ("exec(eval(sys.stdin.readline()))", XDIST),
        ):
            if marker in code:
                return name
        return "python -c " + " ".join(code.split())[:40]
    if args[:1] == ["-m"] and len(args) > 1:
        args = args[1:]
    words = [Path(a).name if "/" in a else a for a in args[:5]]
    words = [re.sub(r"[0-9a-f]{8,}", "…", w) for w in words]
    return " ".join(w for w in words if not w.startswith("--") or w == "--app")[:70]


def _test_name(test: str) -> str:
    return test.split(" (")[0] if test else ""


def analyse(processes: list[Process], commands: dict[int, tuple[list[str], str]]) -> dict[str, Any]:
    """CPU by kind of command and by test. Each process counts toward the nearest
    process, itself or an ancestor, that called exec; that one's kind is its Python
    command line, or its program's name."""
    by_pid = {p.pid: p for p in processes}

    def lineage(p: Process) -> Iterator[Process]:
        """``p``, then its parent, and so on, as far as the accounting knows them."""
        for _ in range(1000):  # a guard against a cycle of reused process ids
            yield p
            if p.ppid not in by_pid:
                return
            p = by_pid[p.ppid]

    def owner(p: Process) -> Process:
        return next(q for q in lineage(p) if not q.forked or q.ppid not in by_pid)

    def recorded_ancestor(p: Process) -> Process | None:
        """For a Python without the ``.pth`` (another virtualenv: the version matrix's)."""
        return next((q for q in itertools.islice(lineage(p), 1, None) if q.pid in commands), None)

    def kind(top: Process) -> str:
        if top.pid in commands:
            return kind_of(commands[top.pid][0])
        name = top.name.rstrip("*")
        if name.startswith("python"):
            ancestor = recorded_ancestor(top)
            if ancestor is None:
                return f"{name} (command line not recorded)"
            above = kind_of(commands[ancestor.pid][0])
            return (
                f"{name} started by a test (command line not recorded)" if above == XDIST else above
            )
        return name

    def test_of(p: Process) -> str:
        recorded = next((q for q in lineage(p) if q.pid in commands), None)
        return _test_name(commands[recorded.pid][1]) if recorded else ""

    kinds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    tests: dict[str, float] = defaultdict(float)
    total = 0.0
    for p in processes:
        total += p.cpu
        top = owner(p)
        label = kind(top)
        kinds[label][0] += p.cpu
        if top is p:
            kinds[label][1] += 1
        test = test_of(top)
        if test:
            tests[test] += p.cpu
    return {
        "total_cpu_s": round(total, 1),
        "processes": len(processes),
        "by_kind": [
            {"kind": k, "cpu_s": round(v[0], 1), "started": int(v[1])}
            for k, v in sorted(kinds.items(), key=lambda kv: -kv[1][0])
        ],
        "by_test": [
            {"test": t, "cpu_s": round(c, 1)}
            for t, c in sorted(tests.items(), key=lambda kv: -kv[1])
        ],
    }


def read_in_worker(text: str) -> dict[str, float]:
    """test -> CPU spent in its pytest worker, as tests/conftest.py wrote it."""
    spent: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        test, cpu = ast.literal_eval(line)
        spent[test] += cpu
    return spent


def add_in_worker(report: dict[str, Any], in_worker: dict[str, float]) -> None:
    """Each test's cost: its worker's CPU beside what the processes it started used."""
    started = {row["test"]: row["cpu_s"] for row in report.pop("by_test")}
    rows = [
        {
            "test": test,
            "in_worker_s": round(in_worker.get(test, 0.0), 1),
            "started_s": round(started.get(test, 0.0), 1),
            "cpu_s": round(in_worker.get(test, 0.0) + started.get(test, 0.0), 1),
        }
        for test in set(started) | set(in_worker)
    ]
    report["by_test"] = sorted(rows, key=lambda row: -row["cpu_s"])
    files: dict[str, float] = defaultdict(float)
    for row in rows:
        files[row["test"].split("::")[0]] += row["cpu_s"]
    report["by_file"] = [
        {"file": f, "cpu_s": round(c, 1)} for f, c in sorted(files.items(), key=lambda kv: -kv[1])
    ]


def run_suite(workdir: Path, pytest_args: list[str]) -> tuple[str, str, str, float, int]:
    """``scripts/test`` with accounting on; the accounting dump, the command log, the
    tests' CPU in their workers, the wall time and the exit status."""
    if os.geteuid() != 0 or shutil.which("accton") is None:
        sys.exit("process accounting needs root and Debian's acct package (scripts/bench suite)")
    acct, log = workdir / "pacct", workdir / "commands.log"
    acct.touch()
    pth = Path(site.getsitepackages()[0]) / PTH_NAME
    pth.write_text(PTH_LINE)
    started = time.monotonic()
    try:
        subprocess.run(["accton", str(acct)], check=True, capture_output=True)
        try:
            done = subprocess.run(
                ["bash", str(ROOT / "scripts" / "test"), *pytest_args],
                env={**os.environ, LOG_VARIABLE: str(log)},
                stdout=sys.stderr,
            )
        finally:
            subprocess.run(["accton", "off"], capture_output=True)
    finally:
        pth.unlink(missing_ok=True)
    wall = time.monotonic() - started
    dump = subprocess.run(["dump-acct", str(acct)], capture_output=True, text=True, check=True)
    tests = Path(f"{log}.tests")
    return (
        dump.stdout,
        log.read_text() if log.exists() else "",
        tests.read_text() if tests.exists() else "",
        wall,
        done.returncode,
    )


def markdown(report: dict[str, Any], kinds: int = 20, tests: int = 20, files: int = 15) -> str:
    total = report["total_cpu_s"]
    lines = [
        "## Where the test suite's CPU goes (`benchmarks/suite_cpu.py`)",
        "",
        f"`scripts/test` once, with the kernel's process accounting on: {report['processes']}"
        f" processes used {total:.0f} s of CPU in {report['wall_s']:.0f} s"
        f" ({total / report['wall_s']:.2f} cores busy on average; exit status"
        f" {report['exit_status']}). Forked children count toward the command that forked"
        " them; the version matrix's processes (its own virtualenv) toward `nox`.",
        "",
        "| kind of process | started | CPU (s) | share |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in report["by_kind"][:kinds]:
        lines.append(
            f"| {row['kind']} | {row['started']} | {row['cpu_s']:.1f}"
            f" | {100 * row['cpu_s'] / total:.1f} % |"
        )
    lines += [
        "",
        f"The {files} test files that cost the most, and the {tests} tests: the CPU of the"
        " pytest worker while the test ran (its threads included), and of the processes"
        " started meanwhile (a server started by a module's fixture counts toward the"
        " module's first test):",
        "",
        "| file | CPU (s) |",
        "| --- | ---: |",
    ]
    for row in report["by_file"][:files]:
        lines.append(f"| `{row['file']}` | {row['cpu_s']:.1f} |")
    lines += ["", "| test | in its worker (s) | processes it started (s) | CPU (s) |"]
    lines.append("| --- | ---: | ---: | ---: |")
    for row in report["by_test"][:tests]:
        lines.append(
            f"| `{row['test']}` | {row['in_worker_s']:.1f} | {row['started_s']:.1f}"
            f" | {row['cpu_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument(
        "--keep", type=Path, help="a folder to keep the accounting dump and the commands in"
    )
    parser.add_argument(
        "pytest_args", nargs="*", help="for scripts/test (then without the version matrix)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="suite-cpu-") as workdir:
        dump, commands, tests, wall, status = run_suite(Path(workdir), args.pytest_args)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        (args.keep / "accounting.txt").write_text(dump)
        (args.keep / "commands.log").write_text(commands)
        (args.keep / "tests.log").write_text(tests)
    report = analyse(read_accounting(dump), read_commands(commands))
    add_in_worker(report, read_in_worker(tests))
    report.update(wall_s=round(wall, 1), exit_status=status)
    print(json.dumps(report, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(report))


if __name__ == "__main__":
    main()
