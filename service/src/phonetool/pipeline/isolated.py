"""The pipeline on an untrusted upload, in a process of its own: never in the web process.

Every upload is assumed hostile. Whatever a file makes the reader do (a shared-strings
table of a gigabyte, a line of 69 million fields), it does it in the job's own process,
which has a ceiling on its address space (``RLIMIT_AS``) that its workers inherit, runs
at a lower CPU priority than the web server, and dies with the web process
(:mod:`.lifeline`). So the worst a file can do is fail its own job, with a message that
names the limit; the server keeps answering.

The job's process is forked by the pipeline's fork server, which has the phone data
loaded; its workers are forked from it (it has no other thread when they start), so they
share that data and start in milliseconds. Progress comes back over a pipe; the calling
thread checks for cancellation and timeouts between messages and kills the process
(workers included) when the job should stop.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import resource
import threading
import traceback
from typing import TYPE_CHECKING, Any

from . import lifeline, run
from .errors import N_, InputError, MemoryLimitError, Worded

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection
    from pathlib import Path

    from .run import Options, ProgressCallback, Result

log = logging.getLogger("phonetool.pipeline")

_POLL_SECONDS = 0.2
#: How the job's process says "out of memory" when even that message did not fit: the
#: exit code, read by the calling thread (a Python error that ends a process exits 1).
OUT_OF_MEMORY_EXIT = 3


class PipelineCrashed(Worded):
    """The job's process ended without an answer (killed, or a bug): worth a retry."""

    @classmethod
    def unexpected(cls, error: str) -> PipelineCrashed:
        """A bug or a full disk: its name, never its details (they hold the server's paths:
        those go to the log)."""
        return cls(
            N_("Processing stopped on an unexpected error on our side (%(error)s)."),
            error=error,
        )


def run_isolated(
    path: Path,
    out_dir: Path,
    options: Options,
    *,
    stem: str,
    memory_mb: int,
    progress: ProgressCallback,
    checkpoint: Callable[[], None],
    niceness: int,
) -> Result:
    """``process_file`` in a child process with at most ``memory_mb`` of address space per
    process, ``niceness`` steps below the caller's CPU priority (lower than the web
    server's, so pages stay quick while a large list is processed). ``checkpoint`` raises to
    stop the job (cancelled, timed out): the process and its workers are killed before the
    exception goes on."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["phonetool.pipeline.preload"])
    receive, send = context.Pipe(duplex=False)
    lifeline_end, lifeline_keep = context.Pipe(duplex=False)
    process = context.Process(
        target=_child,
        args=(send, lifeline_end, path, out_dir, options, stem, memory_mb, niceness),
        name=f"phonetool-job-{stem}",
    )
    process.start()
    send.close()
    lifeline_end.close()
    try:
        return _follow(process, receive, progress, checkpoint, memory_mb)
    finally:
        if process.is_alive():
            process.kill()  # its workers follow (parent-death signal)
        process.join()
        receive.close()
        lifeline_keep.close()


def _follow(
    process: Any,
    receive: Connection,
    progress: ProgressCallback,
    checkpoint: Callable[[], None],
    memory_mb: int,
) -> Result:
    while True:
        checkpoint()
        try:
            ready = receive.poll(_POLL_SECONDS)
            message = receive.recv() if ready else None
        except EOFError:
            process.join()
            if process.exitcode == OUT_OF_MEMORY_EXIT:
                raise MemoryLimitError.for_limit(memory_mb) from None
            raise _ended(process.exitcode) from None
        if message is None:
            continue
        kind, *body = message
        if kind == "progress":
            progress(*body)
        elif kind == "done":
            result: Result = body[0]
            return result
        elif kind == "input":
            raise body[0]
        else:
            name, text, trace = body
            log.error("pipeline failed: %s: %s\n%s", name, text, trace)
            raise PipelineCrashed.unexpected(name)


def _ended(exitcode: int | None) -> PipelineCrashed:
    if exitcode is not None and exitcode < 0:
        return PipelineCrashed(
            N_(
                "Processing was stopped by signal %(signal)d before it finished (killed from"
                " outside, or out of memory)."
            ),
            signal=-exitcode,
        )
    return PipelineCrashed(
        N_("Processing ended (exit code %(code)s) before it finished."), code=exitcode
    )


def _child(
    send: Connection,
    lifeline_end: Connection,
    path: Path,
    out_dir: Path,
    options: Options,
    stem: str,
    memory_mb: int,
    niceness: int,
) -> None:
    lifeline.hold(lifeline_end.fileno())
    os.nice(niceness)
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    run.fork_workers_here()
    sending = threading.Lock()  # the progress, and a thread's last words (_thread_died)

    def report(message: tuple[Any, ...]) -> None:
        with sending:
            send.send(message)

    job = os.getpid()
    threading.excepthook = lambda args: _thread_died(args, report, memory_mb, job)
    try:
        message: tuple[Any, ...]
        try:
            result = run.process_file(
                path,
                out_dir,
                options,
                stem=stem,
                progress=lambda done, total: report(("progress", done, total)),
            )
            message = ("done", result)
        except BaseException as exc:
            message = _failure(exc, memory_mb)
        # Sent outside the handler: the error's frames, and whatever filled the memory
        # they hold (a shared-strings table half read), are freed by then.
        report(message)
    except MemoryError:
        os._exit(OUT_OF_MEMORY_EXIT)
    finally:
        run.shutdown_pools()


def _failure(exc: BaseException, memory_mb: int) -> tuple[Any, ...]:
    """The message that fails the job: the file's fault, the ceiling's, or ours."""
    if isinstance(exc, InputError):
        return ("input", exc)
    if _out_of_memory(exc):
        return ("input", MemoryLimitError.for_limit(memory_mb))
    name = type(exc).__name__
    trace = "".join(traceback.format_exception(exc, limit=-8))
    return ("crashed", name, str(exc) or name, trace)


def _thread_died(
    args: threading.ExceptHookArgs,
    report: Callable[[tuple[Any, ...]], None],
    memory_mb: int,
    job: int,
) -> None:
    """A thread of the job's process ended on an error. The worker pool's own threads
    (which hand the chunks to the workers and take their results back) are among them:
    near the ceiling one could not start ("can't start new thread"), and the job's
    process waited for ever for a chunk nobody would send. The job fails with the reason
    instead, and the process ends (its workers with it). Only in the job's process:
    its workers, forked from it, inherit the hook but not the pipe's lock."""
    if os.getpid() != job:
        threading.__excepthook__(args)
        return
    if args.exc_type is SystemExit:
        return
    try:
        report(_failure(args.exc_value or args.exc_type(), memory_mb))
    except MemoryError:
        os._exit(OUT_OF_MEMORY_EXIT)
    finally:
        os._exit(1)


def _out_of_memory(exc: BaseException) -> bool:
    """The ceiling refused an allocation: as MemoryError, as ENOMEM when a worker or a
    mapping was refused, or as a thread that could not start (its stack)."""
    return (
        isinstance(exc, MemoryError)
        or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM)
        or (isinstance(exc, RuntimeError) and "can't start new thread" in str(exc))
    )
