"""The fault-injection suite (tests/phonetool/test_faults.py) run for its numbers: for
each fault, how long until every job was back on track, and jobs lost, run twice, stuck.

    python benchmarks/faults.py [--markdown F]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "faults.jsonl"
        env = {**os.environ, "HANDOFF_FAULTS_REPORT": str(report)}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "tests/phonetool/test_faults.py"],
            cwd=ROOT,
            env=env,
        )
        rows = [json.loads(line) for line in report.read_text().splitlines()]
    print(json.dumps(rows, indent=2))
    if args.markdown:
        args.markdown.write_text(_markdown(rows, done.returncode == 0))
    sys.exit(done.returncode)


def _markdown(rows: list[dict[str, object]], passed: bool) -> str:
    lines = [
        "## Faults injected into the scaled-out service (`tests/phonetool/test_faults.py`)",
        "",
        "Each fault comes while four uploads are queued or running (one of 150,000 rows,"
        " running), on a web server, a Celery worker, Redis and PostgreSQL (through a"
        " relay that cuts it off). Lease 20 s, resend after 5 s. Time: from the fault"
        " (for an outage: from its end) until every job ended and its mail was sent.",
        "",
        "| fault | back on track after | jobs | lost | run twice | stuck |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['fault']} | {r['seconds']} s | {r['jobs']} | {r['lost']} | {r['twice']}"
        f" | {r['stuck']} |"
        for r in rows
    ]
    lines += ["", "The suite " + ("passed." if passed else "FAILED."), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
