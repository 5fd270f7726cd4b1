"""The current application's Flask-Handoff state: one accessor, one error, as Flask has
one ``current_app``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

from .errors import NotInitializedError

if TYPE_CHECKING:
    from .extension import HandoffState


def current_state() -> HandoffState:
    """What ``init_app`` set up for the current app; a task, the status API and the CLI
    all reach it here, so an app without ``init_app`` fails the same way everywhere."""
    try:
        return current_app.extensions["handoff"]  # type: ignore[no-any-return]
    except KeyError:
        raise NotInitializedError() from None
