"""The labels of the real-project corpus (``benchmarks/check_corpus.toml``) are usable,
and the corpus script scores findings against them as its table says."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_corpus", ROOT / "benchmarks/check_corpus.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_every_project_is_pinned_and_every_leak_names_its_sites() -> None:
    projects = corpus().load()

    assert len({(p.repo, p.commit) for p in projects}) == len(projects) >= 15
    for project in projects:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", project.repo), project.repo
        assert re.fullmatch(r"[0-9a-f]{40}", project.commit), project.repo
        assert set(project.ignore) <= {"HO100", "HO101", "HO200", "HO300", "HO301"}
        for leak in project.leaks:
            assert leak.note, project.repo
            assert leak.sites, project.repo
            assert all(re.fullmatch(r"[\w./+-]+\.py:\d+", site) for site in leak.sites)
    fixed = [p for p in projects if any(leak.fixed for leak in p.leaks)]
    assert len(fixed) >= 3  # versions from just before a maintainer's fix


def test_findings_are_scored_by_their_site() -> None:
    module = corpus()
    project = module.Project(
        repo="a/b",
        commit="0" * 40,
        paths=["."],
        ignore=[],
        note="",
        leaks=[
            module.Leak({"app/x.py:3", "app/x.py:4"}, "two reads, one leak"),
            module.Leak({"app/y.py:9"}, "not found"),
        ],
    )
    report = {
        "findings": [
            {"path": [{"file": "app/t.py", "line": 1}, {"file": "app/x.py", "line": 4}]},
            {"path": [{"file": "app/t.py", "line": 1}, {"file": "app/z.py", "line": 2}]},
        ],
        "problems": [],
    }

    outcome = module.judge(project, 100, 0.5, report)
    table = module.markdown([outcome], runs=1)

    assert (outcome.true, outcome.false) == (["app/x.py:4"], ["app/z.py:2"])
    assert [leak.note for leak in outcome.missed] == ["not found"]
    assert "**Precision 50%** (1 of 2 findings true), **recall 50%** (1 of 2" in table
    assert "- a/b: `app/z.py:2`" in table
