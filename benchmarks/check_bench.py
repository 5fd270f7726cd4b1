"""``flask handoff check`` over generated multi-module projects of 50,000 and 500,000
lines: seconds (median of the runs) and peak memory, beside ``ruff check`` and
``pylint`` on the same tree in the same run.

The tree: packages of 20 modules; each module imports the one before it and holds
classes with methods calling each other, module-level instances, helpers, thread
targets reading the request behind a guard, and one unguarded leak per 50 units, so the
analyser follows real call chains and has something to find.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MODULES_PER_PACKAGE = 20
UNITS_PER_MODULE = 5

UNIT = """
class Service{m}x{u}:
    def __init__(self):
        self.count = 0

    def user(self):
        if has_request_context():
            return request.headers.get("X-User")
        return None

    def run(self, n):
        total = 0
        for x in range(n):
            total += self.step(x)
        return total + previous(n)

    def step(self, x):
        return x * 2 + self.count + len(Service{m}x{u}.tag(x))

    @staticmethod
    def tag(x):
        return f"t{{x}}"


service_{u} = Service{m}x{u}()


def helper_{u}(n):
    value = service_{u}.run(n)
    if value > 10:
        value -= 1
    return value


def job_{u}(n):
    result = helper_{u}(n)
    print(service_{u}.user(), result{leak})
    return result


def view_{u}():
    threading.Thread(target=job_{u}, args=(1,)).start()
    return "ok"
"""


def generate(root: Path, lines: int) -> int:
    """Write a project of about ``lines`` lines under ``root/gen``; returns its lines."""
    written = 0
    module = 0
    (root / "gen").mkdir(parents=True)
    (root / "gen/__init__.py").write_text("")
    while written < lines:
        package = root / "gen" / f"p{module // MODULES_PER_PACKAGE}"
        if not package.exists():
            package.mkdir()
            (package / "__init__.py").write_text("")
        previous = (
            f"from gen.p{(module - 1) // MODULES_PER_PACKAGE}.m{module - 1} import helper_0"
            " as previous"
            if module
            else "def previous(n):\n    return n"
        )
        parts = [
            f'"""Generated module {module}."""\nimport threading\n\n'
            f"from flask import has_request_context, request\n\n{previous}\n"
        ]
        for unit in range(UNITS_PER_MODULE):
            leak = ', request.args.get("x")' if (module * UNITS_PER_MODULE + unit) % 50 == 0 else ""
            parts.append(UNIT.format(m=module, u=unit, leak=leak))
        text = "\n".join(parts)
        (package / f"m{module}.py").write_text(text)
        written += text.count("\n") + 1
        module += 1
    return written


def measure(argv: list[str], cwd: Path, timeout: float) -> tuple[float, float, bool]:
    """Wall seconds and peak RSS (MB) of one run, and whether it was stopped at
    ``timeout`` (pylint on 500,000 lines runs for longer than a benchmark should)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    timer.cancel()
    stopped = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return time.perf_counter() - started, usage.ru_maxrss / 1024, stopped


def tools() -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    return {
        "flask handoff check": [sys.executable, "-m", "flask_handoff.check", "gen"],
        "ruff check": [str(bin_dir / "ruff"), "check", "--no-cache", "--isolated", "gen"],
        "pylint": [str(bin_dir / "pylint"), "--recursive=y", "--jobs=1", "gen"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="50000,500000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pylint-runs", type=int, default=1, help="pylint is slow")
    parser.add_argument("--tools", default="", help="only these, comma-separated")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a run may take")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--render", type=Path, help="only write the markdown of this JSON")
    args = parser.parse_args()
    if args.render:
        args.markdown.write_text(markdown(json.loads(args.render.read_text())))
        return
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        root = Path(tempfile.mkdtemp(prefix="check-bench-"))
        try:
            lines = generate(root, size)
            files = sum(1 for _ in root.rglob("*.py"))
            chosen = set(filter(None, args.tools.split(",")))
            for name, argv in tools().items():
                if chosen and name not in chosen:
                    continue
                runs = args.pylint_runs if name == "pylint" else args.runs
                samples = [measure(argv, root, args.timeout) for _ in range(runs)]
                row = {
                    "tool": name,
                    "lines": lines,
                    "files": files,
                    "runs": runs,
                    "seconds": statistics.median(s for s, _, _ in samples),
                    "peak_mb": max(m for _, m, _ in samples),
                    "stopped": any(stopped for _, _, stopped in samples),
                }
                results.append(row)
                print(json.dumps(row), file=sys.stderr)
        finally:
            shutil.rmtree(root)
    json.dump(results, sys.stdout, indent=2)
    if args.markdown:
        args.markdown.write_text(markdown(results))


def markdown(results: list[dict[str, object]]) -> str:
    out = [
        "## `flask handoff check` on generated projects",
        "",
        "`benchmarks/check_bench.py`: a generated tree of packages of 20 modules (classes,",
        "module-level instances, cross-module imports, thread targets, a guarded read in",
        "each unit and a leak per 50 units), each tool run on the same tree in the same run;",
        "median seconds of the runs, and the largest peak RSS. Target: under 5 s at 50,000",
        "lines, and linear growth. A run still going after the timeout is stopped and shown",
        "as such (pylint at 500,000 lines; the machine also ran other work during it).",
        "",
        "| tool | lines | files | runs | median s | lines/s | peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        seconds = float(r["seconds"])  # type: ignore[arg-type]
        lines = int(r["lines"])  # type: ignore[call-overload]
        shown = f"> {seconds:,.0f} (stopped)" if r.get("stopped") else f"{seconds:.2f}"
        rate = f"< {lines / seconds:,.0f}" if r.get("stopped") else f"{lines / seconds:,.0f}"
        out.append(
            f"| {r['tool']} | {lines:,} | {r['files']:,} | {r['runs']} | {shown}"
            f" | {rate} | {float(r['peak_mb']):.0f} |"  # type: ignore[arg-type]
        )
    checker = [r for r in results if r["tool"] == "flask handoff check"]
    if len(checker) == 2:
        small, large = checker
        time_ratio = float(large["seconds"]) / float(small["seconds"])  # type: ignore[arg-type]
        size_ratio = int(large["lines"]) / int(small["lines"])  # type: ignore[call-overload]
        out += [
            "",
            f"Growth: {size_ratio:.1f}x the lines took {time_ratio:.1f}x the time"
            f" ({time_ratio / size_ratio:.2f} of linear).",
        ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
