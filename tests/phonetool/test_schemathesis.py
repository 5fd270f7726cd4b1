"""Schemathesis generates requests from ``/api/openapi.json`` and sends each with both
members' tokens: no answer is a 5xx, and every answer matches the document."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .conftest import AppFactory, add_member


def _import_all_of_schemathesis() -> None:
    """Every schemathesis module, now, in this thread: imported lazily while cases are
    generated, pytest rewrites (compiles) each beside the app's pool threads, and twice in
    full runs that compile failed inside CPython's own AST code ("SystemError: AST
    constructor recursion depth mismatch"), each time for another module."""
    for module in pkgutil.walk_packages(schemathesis.__path__, "schemathesis."):
        with contextlib.suppress(Exception):  # a module for an extra not installed
            importlib.import_module(module.name)


_import_all_of_schemathesis()

pytestmark = pytest.mark.slow


def test_no_request_gets_a_server_error_or_an_answer_off_the_document(
    make_app: AppFactory,
) -> None:
    # Uploads queue, nothing runs under the fuzzer; a job's event stream, which the test
    # client reads to its end, ends after a second (a queued job's would last 5 minutes).
    app = make_app(HANDOFF_AUTOSTART=False, PHONETOOL_EVENTS_SECONDS=1)
    tokens = [add_member(app, f"{who}@example.com").headers for who in ("alice", "bob")]
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            for headers in tokens:
                # Not "valid by the document, so accepted": an upload the document allows
                # (any binary file) is still refused for what it holds (415, 400), as it
                # should be. Every other check, "no 5xx" first, applies.
                case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        check()
