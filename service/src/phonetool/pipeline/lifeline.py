"""Pipeline processes die with the process that started them.

A web server killed with SIGKILL runs no clean-up: without this, the job's process and
its workers (one may hold gigabytes) live on with nobody to read their results. Two
kernel mechanisms, because the two kinds of process have different parents:

- the job's process is forked by the fork server, not by the web process, so a
  parent-death signal would watch the wrong process. It holds instead the read end of a
  pipe whose only write end stays in the web process; the kernel sends SIGKILL to the
  pipe's owner when that end closes (``F_SETSIG`` on an ``O_ASYNC`` pipe), which happens
  however the web process ends;
- the workers are forked by the job's process, so ``PR_SET_PDEATHSIG`` does.

Linux only, like the service; elsewhere both are no-ops.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import signal
import sys

_PR_SET_PDEATHSIG = 1
_F_SETSIG = getattr(fcntl, "F_SETSIG", 10)


def hold(fd: int) -> None:
    """Be killed as soon as nobody holds the write end of the pipe whose read end is
    ``fd``. Call first thing in the new process; never read from or write to the pipe
    (data arriving would send the signal too)."""
    if not sys.platform.startswith("linux"):
        return
    fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, _F_SETSIG, signal.SIGKILL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
    readable, _, _ = select.select([fd], [], [], 0)
    if readable:  # the write end closed before we were watching: the parent is gone
        os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Be killed when the process that forked this one ends (a pool initializer)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # it ended before the signal was set
        os._exit(1)
