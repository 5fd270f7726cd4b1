"""The command line, shared by ``python -m flask_handoff.check`` and ``flask handoff
check``. Exit status: 0 nothing found, 1 something found, 2 a usage error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import reporter
from .api import check
from .config import CheckConfigError, load

FOUND, CLEAN, USAGE = 1, 0, 2


def run(paths: list[str], output_format: str = "text") -> int:
    """Check ``paths`` (default: the configured ``include``, else the current folder)
    and print the findings; returns the exit status."""
    try:
        config = load(Path.cwd())
        chosen = [Path(p) for p in paths] or [config.root / p for p in config.include]
        result = check(chosen or [Path.cwd()], config)
    except CheckConfigError as exc:
        print(f"flask handoff check: {exc}", file=sys.stderr)
        return USAGE
    sys.stdout.write(reporter.WRITERS[output_format](result))
    return FOUND if result.findings else CLEAN


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flask_handoff.check",
        description="Find request-context leaks in background code, statically.",
    )
    parser.add_argument("paths", nargs="*", help="files or folders (default: .)")
    parser.add_argument("--format", choices=sorted(reporter.WRITERS), default="text")
    args = parser.parse_args(argv)
    return run(args.paths, args.format)
