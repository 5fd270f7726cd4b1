"""The service as ``scripts/serve`` starts it (gunicorn), under load.

1. Concurrent uploads: two members send ``--uploads`` small lists at once. Reported:
   every status code (the target: no 5xx but 503 with Retry-After, never 500), the
   accept time's median and p99, that every accepted job ends, and that each member's
   operation log holds exactly the entries of their own uploads. ``run_load`` is also
   what the test suite runs.
2. Reads while a large list is processed: ``GET /api/jobs`` one after another, idle and
   then while a ``--rows`` list runs; the target is a p99 within 3x of the idle p99.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.phonetool.live import LiveService, Member, live_service

LIST = "订单号,收件人电话\nA1,13812345678\nA2,0755-26543210\nA3,abc\n".encode("gbk")


def run_load(service: LiveService, uploads: int) -> dict[str, Any]:
    members = [service.add_member(f"load{i}@example.com") for i in range(2)]
    start = threading.Barrier(uploads)

    def one(i: int) -> tuple[Member, int, str, float, str | None]:
        member = members[i % 2]
        start.wait()
        began = time.perf_counter()
        status, headers, body = service.upload(member, f"list-{i}.csv", LIST)
        seconds = time.perf_counter() - began
        job = body.get("job_id") if isinstance(body, dict) else None
        retry = headers.get("Retry-After", "")
        return member, status, retry, seconds, job

    began = time.perf_counter()
    with ThreadPoolExecutor(uploads) as pool:
        answers = list(pool.map(one, range(uploads)))
    wall = time.perf_counter() - began
    accepted = [(m, job) for m, status, _, _, job in answers if status == 202 and job]
    finals = Counter(service.wait_final(m, job)["state"] for m, job in accepted)
    logs_exact = all(_log_matches(service, m, {j for w, j in accepted if w is m}) for m in members)
    times = sorted(seconds for _, _, _, seconds, _ in answers)
    statuses = Counter(status for _, status, _, _, _ in answers)
    refused_without_retry_after = sum(
        1 for _, status, retry, _, _ in answers if status in (429, 503) and not retry
    )
    return {
        "uploads": uploads,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "accepted": len(accepted),
        "final_states": dict(finals),
        "refused_without_retry_after": refused_without_retry_after,
        "operation_logs_exact": logs_exact,
        "accept_median_ms": round(statistics.median(times) * 1000, 1),
        "accept_p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 1),
        "wall_seconds": round(wall, 2),
    }


def run_latency(service: LiveService, rows: int, requests: int = 400) -> dict[str, Any]:
    from benchmarks.pipeline import generate_rows, write_inputs

    member = service.add_member("reader@example.com")
    for i in range(5):  # a page of history to list
        _, _, body = service.upload(member, f"small-{i}.csv", LIST)
        service.wait_final(member, body["job_id"])

    def timings() -> list[float]:
        found = []
        for _ in range(requests):
            began = time.perf_counter()
            status, _, _ = service.call("GET", "/api/jobs", headers=member.headers)
            found.append(time.perf_counter() - began)
            assert status == 200
        return found

    idle = timings()
    folder = Path(tempfile.mkdtemp(prefix="latency-"))
    big = write_inputs(generate_rows(rows, seed=7), folder, formats=("csv-utf8",))["csv-utf8"]
    _, _, body = service.upload(member, "big.csv", big.read_bytes())
    big.unlink()
    while True:
        _, _, job = service.call("GET", f"/api/jobs/{body['job_id']}", headers=member.headers)
        if job["state"] == "running" and job["progress"]["done"]:
            break
        time.sleep(0.1)
    busy = timings()
    _, _, job = service.call("GET", f"/api/jobs/{body['job_id']}", headers=member.headers)
    still_running = job["state"] == "running"
    service.wait_final(member, body["job_id"], timeout=900)

    def p(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 1)

    return {
        "rows": rows,
        "requests": requests,
        "idle_median_ms": p(idle, 0.5),
        "idle_p99_ms": p(idle, 0.99),
        "busy_median_ms": p(busy, 0.5),
        "busy_p99_ms": p(busy, 0.99),
        "p99_ratio": round(p(busy, 0.99) / p(idle, 0.99), 2),
        "job_still_running_after": still_running,
    }


def _log_matches(service: LiveService, member: Member, jobs: set[str | None]) -> bool:
    """The member's log: an 'upload received' entry for each of their accepted uploads,
    and no entry about any other job."""
    entries: list[dict[str, Any]] = []
    page = 1
    while True:
        _, _, body = service.call(
            "GET", f"/api/operation-logs?per_page=200&page={page}", headers=member.headers
        )
        if not body["entries"]:
            break
        entries += body["entries"]
        page += 1
    received = {e["job_id"] for e in entries if e["operation_type"] == "upload_received"}
    about = {e["job_id"] for e in entries if e["job_id"]}
    return received == jobs and about <= jobs


def _markdown(report: dict[str, Any], latency: dict[str, Any]) -> str:
    statuses = ", ".join(f"{k}: {v}" for k, v in report["statuses"].items())
    return "\n".join(
        [
            "## Service under load",
            "",
            f"{report['uploads']} uploads sent at once by two members to the service as"
            " `scripts/serve` starts it (gunicorn, threads, one process per core), a"
            " four-row GBK list each (`benchmarks/load.py`).",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| status codes | {statuses} |",
            f"| 429/503 without Retry-After | {report['refused_without_retry_after']} |",
            f"| accepted jobs, final states | {report['accepted']}: {report['final_states']} |",
            f"| each member's log holds exactly their uploads | {report['operation_logs_exact']} |",
            f"| accept time, median | {report['accept_median_ms']} ms |",
            f"| accept time, p99 | {report['accept_p99_ms']} ms |",
            f"| all answers in | {report['wall_seconds']} s |",
            "",
            f"`GET /api/jobs`, {latency['requests']} requests one after another, idle and then"
            f" while a list of {latency['rows']:,} rows is processed"
            f" (still running at the end: {latency['job_still_running_after']}):",
            "",
            "| | median | p99 |",
            "| --- | --- | --- |",
            f"| idle | {latency['idle_median_ms']} ms | {latency['idle_p99_ms']} ms |",
            f"| while the job runs | {latency['busy_median_ms']} ms |"
            f" {latency['busy_p99_ms']} ms |",
            f"| ratio of the p99s | | {latency['p99_ratio']}x (target: 3x or less) |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, live_service(Path(tmp)) as service:
        report = run_load(service, args.uploads)
    with tempfile.TemporaryDirectory() as tmp, live_service(Path(tmp)) as service:
        latency = run_latency(service, args.rows)
    print(json.dumps({"load": report, "latency": latency}, indent=2))
    if args.markdown:
        args.markdown.write_text(_markdown(report, latency))


if __name__ == "__main__":
    main()
