"""``flask handoff check`` on real public Flask projects, against leaks labelled by hand.

The projects and their labels are in ``benchmarks/check_corpus.toml``, each pinned by
commit. Their code stays outside this repository: point ``--mirrors`` at a folder that
holds a git copy of each (``owner+name/``, bare or not, or ``owner+name/repo/``), or let
``--clone`` fetch the missing ones from GitHub. Each project's Python files at its commit
are read from git into a scratch folder, the checker runs on them as a user would
(``python -m flask_handoff.check --format json``), and its findings are matched against
the labels: precision (true findings / findings) and recall (leaks found / leaks).

    python benchmarks/check_corpus.py --mirrors ~/corpus --markdown docs/benchmarks/check-corpus.md
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

LABELS = Path(__file__).with_name("check_corpus.toml")


@dataclass
class Leak:
    sites: set[str]
    note: str
    fixed: str = ""


@dataclass
class Project:
    repo: str
    commit: str
    paths: list[str]
    ignore: list[str]
    note: str
    leaks: list[Leak] = field(default_factory=list)

    @property
    def folder(self) -> str:
        return self.repo.replace("/", "+")


@dataclass
class Outcome:
    project: Project
    lines: int
    seconds: float
    sites: list[str]  # the site of each finding, file:line
    true: list[str]
    false: list[str]
    missed: list[Leak]
    problems: int


def corpus_note(path: Path = LABELS) -> str:
    """What the labels file says of the corpus as a whole (shown under the table)."""
    note = tomllib.loads(path.read_text(encoding="utf-8")).get("note", "")
    return " ".join(str(note).split())


def load(path: Path = LABELS) -> list[Project]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        Project(
            repo=p["repo"],
            commit=p["commit"],
            paths=p.get("paths", ["."]),
            ignore=p.get("ignore", []),
            note=p.get("note", ""),
            leaks=[
                Leak(set(leak["sites"]), leak.get("note", ""), leak.get("fixed", ""))
                for leak in p.get("leak", [])
            ],
        )
        for p in data["project"]
    ]


def git_dir(mirrors: Path, project: Project, clone: bool) -> Path:
    """The project's git directory in ``mirrors``; cloned there first with ``clone``."""
    base = mirrors / project.folder
    for candidate in (base / "repo" / ".git", base / "repo", base / ".git", base):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    if not clone:
        raise SystemExit(f"{project.repo}: no git copy at {base} (clone it there, or pass --clone)")
    url = f"https://github.com/{project.repo}.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", url, str(base)], check=True)
    return base


def extract(gitdir: Path, commit: str, into: Path) -> int:
    """The Python files of ``commit`` into ``into``; returns their line count. Only
    ``.py`` files: a snapshot may lack large data files, and the checker reads no other."""
    archive = subprocess.run(
        ["git", f"--git-dir={gitdir}", "archive", "--format=tar", commit, "--", ":(glob)**/*.py"],
        capture_output=True,
        check=True,
    ).stdout
    lines = 0
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                lines += handle.read().count(b"\n") if handle else 0
    return lines


def run_checker(folder: Path, project: Project, runs: int) -> tuple[float, dict[str, object]]:
    argv = [sys.executable, "-m", "flask_handoff.check", *project.paths, "--format", "json"]
    if project.ignore:
        argv += ["--ignore", ",".join(project.ignore)]
    samples: list[float] = []
    output = ""
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{project.repo}: the checker failed:\n{done.stderr}")
        output = done.stdout
    return statistics.median(samples), json.loads(output)


def judge(project: Project, lines: int, seconds: float, report: dict[str, object]) -> Outcome:
    findings = report["findings"]
    assert isinstance(findings, list)
    sites = [f"{f['path'][-1]['file']}:{f['path'][-1]['line']}" for f in findings]
    labelled = set().union(*(leak.sites for leak in project.leaks)) if project.leaks else set()
    problems = report.get("problems", [])
    return Outcome(
        project,
        lines,
        seconds,
        sites,
        true=[s for s in sites if s in labelled],
        false=[s for s in sites if s not in labelled],
        missed=[leak for leak in project.leaks if not leak.sites & set(sites)],
        problems=len(problems) if isinstance(problems, list) else 0,
    )


def markdown(outcomes: list[Outcome], runs: int, note: str = "") -> str:
    findings = sum(len(o.sites) for o in outcomes)
    true = sum(len(o.true) for o in outcomes)
    leaks = sum(len(o.project.leaks) for o in outcomes)
    found = leaks - sum(len(o.missed) for o in outcomes)
    precision = true / findings if findings else 1.0
    recall = found / leaks if leaks else 1.0
    out = [
        "## `flask handoff check` on real projects",
        "",
        "`benchmarks/check_corpus.py`: public Flask projects pinned by commit, the leaks",
        "labelled by hand in `benchmarks/check_corpus.toml`. *Before a fix*: the commit just",
        "before the maintainers fixed a request-context leak; *reviewed*: a leak found by",
        "reading the code. A project with no labelled leak was not read line by line: none",
        "is known there, and any finding in it counts as false. A finding is true when its",
        "site (the read) is a labelled leak's; a leak is found when a finding names one of",
        f"its sites. Seconds: median of {runs} run(s) of `python -m flask_handoff.check`,",
        "as a user runs it (interpreter start included). The rules were developed on these",
        "same projects: the numbers say what the checker does on them, not on code it has",
        "never seen.",
        "",
        f"**Precision {precision:.0%}** ({true} of {findings} findings true), **recall"
        f" {recall:.0%}** ({found} of {leaks} labelled leaks found).",
        "",
        "| project | commit | version | lines | seconds | findings | true | false | leaks"
        " | missed |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        fixed = next((leak.fixed for leak in o.project.leaks if leak.fixed), "")
        version = f"before {fixed[:8]}" if fixed else "recent"
        out.append(
            f"| {o.project.repo} | {o.project.commit[:10]} | {version} | {o.lines:,}"
            f" | {o.seconds:.2f} | {len(o.sites)} | {len(o.true)} | {len(o.false)}"
            f" | {len(o.project.leaks)} | {len(o.missed)} |"
        )
    total_lines = sum(o.lines for o in outcomes)
    out += [
        f"| **all** | | | {total_lines:,} | {sum(o.seconds for o in outcomes):.1f}"
        f" | {findings} | {true} | {findings - true} | {leaks} | {leaks - found} |",
        "",
    ]
    if note:
        out += [*textwrap.wrap(note, 88), ""]
    wrong = [(o, site) for o in outcomes for site in o.false]
    if wrong:
        out += ["False findings:", ""]
        out += [f"- {o.project.repo}: `{site}`" for o, site in wrong]
        out.append("")
    missed = [(o, leak) for o in outcomes for leak in o.missed]
    if missed:
        out += ["Missed leaks:", ""]
        out += [f"- {o.project.repo}: {' '.join(leak.note.split())}" for o, leak in missed]
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, help="git copies, owner+name/")
    parser.add_argument("--clone", action="store_true", help="clone the missing ones")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="repos to run, comma-separated")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--render", action="store_true", help="only rewrite --markdown from --json")
    args = parser.parse_args()
    if args.render:
        rows = json.loads(args.json.read_text())
        by_key = {(p.repo, p.commit): p for p in load()}
        rendered = [
            Outcome(
                by_key[(r["repo"], r["commit"])],
                r["lines"],
                r["seconds"],
                r["findings"],
                [s for s in r["findings"] if s not in r["false"]],
                r["false"],
                [
                    leak
                    for leak in by_key[(r["repo"], r["commit"])].leaks
                    if sorted(leak.sites) in r["missed"]
                ],
                0,
            )
            for r in rows
        ]
        args.markdown.write_text(markdown(rendered, args.runs, corpus_note()))
        return
    if args.mirrors is None:
        parser.error("--mirrors is needed to run the corpus")
    chosen = set(filter(None, args.only.split(",")))
    outcomes: list[Outcome] = []
    scratch = Path(tempfile.mkdtemp(prefix="check-corpus-"))
    try:
        for project in load():
            if chosen and project.repo not in chosen:
                continue
            folder = scratch / f"{project.folder}@{project.commit[:10]}"
            folder.mkdir()
            lines = extract(git_dir(args.mirrors, project, args.clone), project.commit, folder)
            seconds, report = run_checker(folder, project, args.runs)
            outcome = judge(project, lines, seconds, report)
            outcomes.append(outcome)
            print(
                f"{project.repo}@{project.commit[:10]}: {lines:,} lines, {seconds:.2f} s,"
                f" {len(outcome.sites)} findings ({len(outcome.false)} false),"
                f" {len(outcome.missed)} of {len(project.leaks)} leaks missed",
                file=sys.stderr,
            )
    finally:
        shutil.rmtree(scratch)
    text = markdown(outcomes, args.runs, corpus_note())
    sys.stdout.write(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        rows = [
            {
                "repo": o.project.repo,
                "commit": o.project.commit,
                "lines": o.lines,
                "seconds": o.seconds,
                "findings": o.sites,
                "false": o.false,
                "missed": [sorted(leak.sites) for leak in o.missed],
            }
            for o in outcomes
        ]
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
