"""What the fork server loads before it forks the workers, and how their garbage
collector is set.

Imported by the fork server alone (see ``run._pool``): the phone data is loaded once there
and shared by every worker it forks. Then two settings the workers inherit:

- ``sys.modules.setdefault("numpy", None)  # type: ignore[arg-type]  # "import numpy" fails
gc.freeze()``: the ~38,000 objects loaded are left out of every collection, so a
  worker's full collection neither walks them nor writes to their pages (which turns
  shared pages into private copies: ~9 MB a worker).
- a higher first threshold: workers allocate short-lived tuples and strings that form no
  cycles, and with the default (700) collecting took ~7% of a worker's CPU time.

And numpy is kept out: openpyxl imports it when it is installed, and nothing here needs
it, but under a job's memory ceiling OpenBLAS fails to allocate its thread buffers and
ends the process (exit code 1, no ``MemoryError``), so a file within its limits failed.
"""

import gc
import sys

# Imported for the workers forked from here, which find them loaded.
import phonenumbers.carrier
import phonenumbers.geocoder  # noqa: F401

from . import work  # noqa: F401

sys.modules.setdefault("numpy", None)  # type: ignore[arg-type]  # "import numpy" fails
gc.freeze()
gc.set_threshold(20_000, 20, 10)
