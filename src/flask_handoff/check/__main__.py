"""``python -m flask_handoff.check [PATHS...]``: no application needed."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
