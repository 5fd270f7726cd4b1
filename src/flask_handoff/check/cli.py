"""The command line, shared by ``python -m flask_handoff.check`` and ``flask handoff
check``. Exit status: 0 nothing found, 1 something found, 2 a usage error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import reporter
from .api import check
from .config import CheckConfigError, load
from .messages import CODES

FOUND, CLEAN, USAGE = 1, 0, 2


def run(
    paths: list[str],
    output_format: str = "text",
    select: list[str] | None = None,
    ignore: list[str] | None = None,
) -> int:
    """Check ``paths`` (default: the configured ``include``, else the current folder)
    and print the findings; returns the exit status. ``select`` replaces the configured
    rules; ``ignore`` adds to the configured ones (as ruff's options do)."""
    try:
        config = load(Path.cwd())
        if select:
            config.select = select
        config.ignore = [*config.ignore, *(ignore or [])]
        unknown = [c for c in [*config.select, *config.ignore] if not known_rule(c)]
        if unknown:
            raise CheckConfigError(
                f"unknown rule code(s) {unknown}; the rules are {sorted(CODES)}"
                " (a prefix such as HO1 chooses several)."
            )
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
    parser.add_argument(
        "--select", type=codes, default=[], help="only these rules (codes or prefixes: HO1)"
    )
    parser.add_argument("--ignore", type=codes, default=[], help="not these rules")
    args = parser.parse_args(argv)
    return run(args.paths, args.format, args.select, args.ignore)


def codes(value: str) -> list[str]:
    return [c.strip().upper() for c in value.split(",") if c.strip()]


def known_rule(code: str) -> bool:
    return any(rule.startswith(code.upper()) for rule in CODES)
