"""``flask handoff check``: find, before they run, the paths from background code to
``request``, ``session``, ``g`` and the helpers built on them. Static: the project is
read with :mod:`ast`, never imported or run.

.. code-block:: console

    $ python -m flask_handoff.check src/
    $ flask --app shop handoff check --format sarif > findings.sarif
"""

from __future__ import annotations

from .api import Result, check
from .cli import main
from .config import CheckConfig, CheckConfigError

__all__ = ["CheckConfig", "CheckConfigError", "Result", "check", "main"]
