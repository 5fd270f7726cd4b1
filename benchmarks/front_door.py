"""The front door under slow clients and open job pages, the service as ``scripts/serve``
starts it beside the code of an earlier commit run as gunicorn alone (how that commit's
``scripts/serve`` ran it).

    python benchmarks/front_door.py [--before REV] [--seconds 60] [--markdown F]

On 127.0.0.1 only, bounded in count and time: 200 connections sending one header line a
second, 200 signed-in uploads sending their body a byte a second, and 1,000 open event
streams on five members' queued jobs (each reconnects when cut off or refused, as a
browser does), all held for ``--seconds``; meanwhile another member lists their jobs and
uploads a small list, one request after the other, and every answer's time is recorded.

Both setups run no jobs: they hand jobs to Celery through a broker address where nothing
listens, so every job stays queued (an upload is still accepted: the job is in the table).
The streams' pages stay open, as on a queue behind a long job, and the pipeline's use of
the cores is left out of what is measured, which is the door.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from tests.phonetool.live import LiveService, free_port, live_service, multipart  # noqa: E402

from reader_compare import source_of  # noqa: E402

SLOW_HEADERS = 200
SLOW_BODIES = 200
STREAMS = 1000
STREAM_MEMBERS = 5
ORDERS = "手机号,备注\n13812345678,x\n13912345678,y\n".encode()


# -- the crowd: one asyncio process, so its 1,400 connections cost the measured client
# -- nothing but the machine's cores ---------------------------------------------------


async def _slow_header(port: int, until: float, counts: dict[str, int]) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while time.monotonic() < until:
                await asyncio.sleep(1)
                if reader.at_eof():
                    break
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
            writer.close()
        except OSError:
            pass
        if time.monotonic() < until:  # cut off by the server, not ended by the run
            counts["slow_header_cut"] += 1
        await asyncio.sleep(0.5)


async def _slow_body(port: int, token: str, until: float, counts: dict[str, int]) -> None:
    head = (
        "POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1048576\r\n\r\n"
    ).encode()
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            while time.monotonic() < until and not reader.at_eof():
                writer.write(b"-")
                await writer.drain()
                await asyncio.sleep(1)
            writer.close()
        except OSError:
            pass
        if time.monotonic() < until:
            counts["slow_body_cut"] += 1
        await asyncio.sleep(0.5)


async def _stream(port: int, token: str, job_id: str, until: float, counts: dict[str, int]) -> None:
    request = (
        f"GET /api/jobs/{job_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            status = await asyncio.wait_for(reader.readline(), until - time.monotonic())
            if b" 200 " in status:
                counts["streams_open"] += 1
                counts["streams_opened"] += 1
                try:
                    while time.monotonic() < until:
                        left = until - time.monotonic()
                        if not await asyncio.wait_for(reader.read(4096), max(left, 0.01)):
                            break
                finally:
                    counts["streams_open"] -= 1
            else:
                counts["streams_refused"] += 1
            writer.close()
        except (OSError, TimeoutError):
            pass
        await asyncio.sleep(3)  # EventSource's wait before it reconnects


async def _crowd(plan: dict[str, Any]) -> dict[str, Any]:
    port, until = plan["port"], time.monotonic() + plan["seconds"]
    counts = dict.fromkeys(
        (
            "slow_header_cut",
            "slow_body_cut",
            "streams_open",
            "streams_opened",
            "streams_refused",
        ),
        0,
    )
    peak = 0

    async def watch_peak() -> None:
        nonlocal peak
        while time.monotonic() < until:
            peak = max(peak, counts["streams_open"])
            await asyncio.sleep(0.5)

    tasks = [watch_peak()]
    tasks += [_slow_header(port, until, counts) for _ in range(SLOW_HEADERS)]
    tasks += [_slow_body(port, plan["attacker"], until, counts) for _ in range(SLOW_BODIES)]
    for i in range(STREAMS):
        token, job_id = plan["streams"][i % len(plan["streams"])]
        tasks.append(_stream(port, token, job_id, until, counts))
    await asyncio.gather(*tasks, return_exceptions=True)
    return {**counts, "streams_open_peak": peak}


def crowd_main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    plan = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(_crowd(plan))))


# -- the member who only wants to work ---------------------------------------------------


def _timed(service: LiveService, method: str, path: str, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        status, _, _ = service.call(method, path, timeout=20, **kwargs)
    except (ConnectionError, TimeoutError, OSError) as exc:
        status = type(exc).__name__
    return status, time.monotonic() - started


def _member_works(service: LiveService, seconds: float) -> dict[str, Any]:
    member = service.add_member("works@example.com")
    body, content_type = multipart({"file": ("orders.csv", ORDERS)})
    upload_headers = {**member.headers, "Content-Type": content_type}
    answers: list[tuple[str, Any, float]] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        status, took = _timed(service, "GET", "/api/jobs", headers=member.headers)
        answers.append(("list", status, took))
        status, took = _timed(service, "POST", "/api/uploads", headers=upload_headers, body=body)
        answers.append(("upload", status, took))
        time.sleep(0.2)
    times = sorted(took for _, _, took in answers)
    wrong = [(kind, status) for kind, status, _ in answers if status not in (200, 202)]
    return {
        "requests": len(answers),
        "errors": len(wrong),
        "error_kinds": sorted({f"{kind} {status}" for kind, status in wrong}),
        "median_ms": round(statistics.median(times) * 1000, 1),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 1),
        "max_ms": round(times[-1] * 1000, 1),
    }


def run_setup(service: LiveService, seconds: float) -> dict[str, Any]:
    attacker = service.add_member("slow@example.com")
    streams = []
    for i in range(STREAM_MEMBERS):
        watcher = service.add_member(f"watcher{i}@example.com")
        _, _, job = service.upload(watcher, "orders.csv", ORDERS)
        streams.append((watcher.token, job["job_id"]))
    plan = {
        "port": service.port,
        "seconds": seconds + 10,
        "attacker": attacker.token,
        "streams": streams,
    }
    crowd = subprocess.Popen(
        [sys.executable, __file__, "crowd"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert crowd.stdin is not None
    crowd.stdin.write(json.dumps(plan))
    crowd.stdin.close()
    time.sleep(8)  # the crowd connects, the streams open
    member = _member_works(service, seconds)
    assert crowd.stdout is not None
    out = crowd.stdout.read()
    crowd.wait(timeout=60)
    return {"member": member, "crowd": json.loads(out)}


ENV = {
    "PHONETOOL_JOB_BACKEND": "celery",
    "PHONETOOL_MAX_ACTIVE_PER_MEMBER": "100000",
    "PHONETOOL_MAX_ACTIVE": "100000",
    "PHONETOOL_STREAMS_PER_MEMBER": str(STREAMS // STREAM_MEMBERS),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="8aa5e1a", help="the commit run as gunicorn alone")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    ENV["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with tempfile.TemporaryDirectory() as tmp:
        with live_service(Path(tmp) / "now", front=True, **ENV) as service:
            results["now"] = run_setup(service, args.seconds)
        old_source = source_of(args.before, Path(tmp) / "before")
        env = {**ENV, "PYTHONPATH": str(old_source)}
        with live_service(Path(tmp) / "old", **env) as service:
            results["before"] = run_setup(service, args.seconds)
    results["before"]["revision"] = args.before
    print(json.dumps(results, indent=2))
    if args.markdown:
        args.markdown.write_text(_markdown(results, args.seconds))


def _markdown(results: dict[str, Any], seconds: float) -> str:
    rows = []
    for name, label in (
        ("now", "nginx + gunicorn + events process (scripts/serve now)"),
        ("before", f"gunicorn alone ({results['before']['revision']})"),
    ):
        m, c = results[name]["member"], results[name]["crowd"]
        rows.append(
            f"| {label} | {m['requests']} | {m['errors']}"
            f" {', '.join(m['error_kinds'])} | {m['median_ms']} ms | {m['p99_ms']} ms"
            f" | {m['max_ms']} ms | {c['streams_open_peak']} | {c['streams_refused']}"
            f" | {c['slow_header_cut']} | {c['slow_body_cut']} |"
        )
    return "\n".join(
        [
            "## Front door: slow clients and open job pages (`benchmarks/front_door.py`)",
            "",
            f"{SLOW_HEADERS} connections sending a header line a second, {SLOW_BODIES}"
            f" signed-in uploads sending a byte a second and {STREAMS} event streams on"
            f" {STREAM_MEMBERS} members' queued jobs, held for {seconds:.0f} s on"
            " 127.0.0.1, while another member lists and uploads, one request after the"
            " other (20 s timeout each). No jobs run (they wait for a broker that is not"
            " there): the door is measured, not the pipeline. Target: every request"
            " answered, p99 at most 1 s.",
            "",
            "| setup | member's requests | errors | median | p99 | max"
            " | streams open (peak) | streams refused | slow headers cut off"
            " | slow bodies cut off |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
        ]
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["crowd"]:
        crowd_main()
    else:
        main()
