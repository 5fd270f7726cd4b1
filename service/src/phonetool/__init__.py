"""phonetool: upload a phone list, get it validated, annotated, exported and mailed.

The app factory is in :mod:`.app`, imported on first use: the pipeline's processes (the
fork server and its workers) and the ``phonetool process`` command then start without
loading Flask, ~0.25 s a process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
