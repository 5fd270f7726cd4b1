"""A burst of small uploads from two members whose clients follow ``Retry-After``, with one
job worker and with two, side by side in one run.

    python benchmarks/burst.py [--uploads 200] [--markdown F]

Each member sends half the uploads from eight client threads; a 429 or 503 is waited out
for as long as its ``Retry-After`` says, then the same upload is sent again. Measured: the
time from the first upload until every job has ended, and the waits the service asked for.
The service runs as gunicorn with one process, its jobs on the thread pool
(``PHONETOOL_JOB_WORKERS`` 1, then 2), the per-member limit at its default (20).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.phonetool.live import LiveService, Member, live_service  # noqa: E402

ORDERS = "手机号,备注\n13812345678,x\n13912345678,y\n".encode()
CLIENTS_PER_MEMBER = 8


def _client(
    service: LiveService, member: Member, todo: list[int], lock: threading.Lock, out: dict
) -> None:
    while True:
        with lock:
            if not todo:
                return
            todo.pop()
        while True:
            status, headers, body = service.upload(member, "orders.csv", ORDERS)
            if status == 202:
                with lock:
                    out["jobs"].append((member, body["job_id"]))
                break
            wait = float(headers.get("Retry-After", "1"))
            with lock:
                out["refused"] += 1
                out["waits"].append(wait)
            time.sleep(wait)


def run_burst(service: LiveService, uploads: int) -> dict[str, Any]:
    members = [service.add_member(f"burst{i}@example.com") for i in range(2)]
    out: dict[str, Any] = {"jobs": [], "refused": 0, "waits": []}
    lock = threading.Lock()
    started = time.monotonic()
    threads = []
    for member in members:
        todo = list(range(uploads // 2))
        for _ in range(CLIENTS_PER_MEMBER):
            thread = threading.Thread(target=_client, args=(service, member, todo, lock, out))
            thread.start()
            threads.append(thread)
    for thread in threads:
        thread.join()
    accepted = time.monotonic() - started
    states = [
        service.wait_final(member, job_id, timeout=900)["state"] for member, job_id in out["jobs"]
    ]
    finished = time.monotonic() - started
    return {
        "uploads": len(out["jobs"]),
        "succeeded": states.count("succeeded"),
        "all_accepted_s": round(accepted, 1),
        "all_finished_s": round(finished, 1),
        "refusals": out["refused"],
        "retry_after_median_s": statistics.median(out["waits"]) if out["waits"] else None,
        "retry_after_max_s": max(out["waits"]) if out["waits"] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    results = {}
    for workers in (1, 2):
        env = {
            "WEB_CONCURRENCY": "1",
            "PHONETOOL_JOB_WORKERS": str(workers),
            "PHONETOOL_PIPELINE_WORKERS": "1",
        }
        with tempfile.TemporaryDirectory() as tmp, live_service(Path(tmp), **env) as service:
            results[f"{workers} worker{'s' if workers > 1 else ''}"] = run_burst(
                service, args.uploads
            )
    print(json.dumps(results, indent=2))
    if args.markdown:
        args.markdown.write_text(_markdown(results, args.uploads))


def _markdown(results: dict[str, Any], uploads: int) -> str:
    rows = [
        f"| {name} | {r['succeeded']} of {r['uploads']} | {r['all_accepted_s']} s"
        f" | {r['all_finished_s']} s | {r['refusals']} | {r['retry_after_median_s']} s"
        f" | {r['retry_after_max_s']} s |"
        for name, r in results.items()
    ]
    one, two = results["1 worker"], results["2 workers"]
    ratio = one["all_finished_s"] / two["all_finished_s"] if two["all_finished_s"] else 0
    return "\n".join(
        [
            "## A burst of uploads, clients following Retry-After (`benchmarks/burst.py`)",
            "",
            f"{uploads} small uploads from two members (eight clients each) at once; a 429 or"
            " 503 is waited out for its `Retry-After`, then sent again. gunicorn with one"
            " process; jobs on its thread pool.",
            "",
            "| job workers | succeeded | all accepted after | all finished after"
            " | 429/503 answers | Retry-After, median | Retry-After, max |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"Two workers finish the burst {ratio:.2f}× as fast as one.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
