"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"


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
