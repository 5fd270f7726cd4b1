"""Fixtures shared by every test package."""

from __future__ import annotations

import os

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
