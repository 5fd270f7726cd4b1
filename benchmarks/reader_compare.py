"""The pipeline on one generated list, the code of an earlier commit beside today's, in
one run: rounds alternate the two, so a slow spell of the shared machine falls on both.

    python benchmarks/reader_compare.py REV [--rows 1000000] [--format xlsx]
        [--shared-strings] [--markdown F]

For a change that must not cost speed (the XLSX reader's checks, say), or that should
gain it: each run is ``benchmarks/pipeline.py run-child`` in a fresh process, with the
code of REV (``src`` and ``service/src``, taken with ``git archive``) or of the work tree
first on the path.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import generate_rows, write_inputs

ROOT = Path(__file__).resolve().parents[1]


#: Where the code lives: Flask-Handoff in src, phonetool in service/src (in src too
#: before the two were split).
CODE = ("src", "service/src")


def source_of(revision: str, folder: Path) -> list[Path]:
    """The code as it was at ``revision``, unpacked into ``folder``."""
    present = subprocess.run(
        ["git", "ls-tree", "--name-only", revision, *CODE],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    code = [c for c in CODE if c in present]
    archive = subprocess.run(
        ["git", "archive", revision, *code], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return [folder / c for c in code]


def run(path: Path, source: list[Path], workers: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, source))}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "pipeline.py"),
            "run-child",
            str(path),
            str(workers),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revision")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", default="xlsx", choices=["xlsx", "csv-utf8", "csv-gbk"])
    parser.add_argument("--shared-strings", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {args.revision: [], "today": []}
    with tempfile.TemporaryDirectory(prefix="reader-compare-") as tmp:
        before = source_of(args.revision, Path(tmp) / "before")
        path = write_inputs(
            generate_rows(args.rows),
            Path(tmp),
            formats=(args.format,),
            shared_strings=args.shared_strings,
        )[args.format]
        today = [ROOT / c for c in CODE]
        for _ in range(args.rounds):
            for label, source in ((args.revision, before), ("today", today)):
                runs[label].append(run(path, source, args.workers))
                print(label, json.dumps(runs[label][-1]), file=sys.stderr)
    medians = {
        label: statistics.median(r["seconds"] for r in results) for label, results in runs.items()
    }
    print(json.dumps({"runs": runs, "median_seconds": medians}))
    if args.markdown:
        args.markdown.write_text(_markdown(args, runs, medians))


def _markdown(
    args: argparse.Namespace, runs: dict[str, list[dict[str, float]]], medians: dict[str, float]
) -> str:
    texts = ", texts in the shared strings table" if args.shared_strings else ""
    lines = [
        f"### {args.rows:,} {args.format} rows{texts}, {args.revision} beside today",
        "",
        f"`benchmarks/reader_compare.py {args.revision}"
        f"{' --shared-strings' if args.shared_strings else ''}`: {args.rounds} rounds, the two"
        f" alternating, {args.workers} processes, each run in a fresh process.",
        "",
        "| code | median s | rows/s | runs (s) | peak main MB |",
        "| --- | ---: | ---: | --- | ---: |",
    ]
    for label, results in runs.items():
        seconds = medians[label]
        each = ", ".join(f"{r['seconds']:.1f}" for r in results)
        peak = max(r["peak_main_mb"] for r in results)
        lines.append(
            f"| {label} | {seconds:.1f} | {args.rows / seconds:,.0f} | {each} | {peak:.0f} |"
        )
    ratio = medians["today"] / medians[args.revision]
    lines += ["", f"Today takes {ratio:.2f}x the time of {args.revision}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
