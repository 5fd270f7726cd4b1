"""Pipeline throughput and peak memory, beside the floor of bare phonenumbers calls.

Run by ``scripts/bench``. Generates a realistic list (mostly Chinese mobiles in the forms
back offices export them, fixed lines, garbage, 20% repeats) at each size, as CSV UTF-8,
CSV GBK and XLSX; runs the whole pipeline (read to both exports) in a fresh process per
run, on one core and on all; and measures, in the same run, the floor: phonenumbers
parse + is_valid + type + E.164 + geocoder + carrier on the same rows, one process, no
cache. Writes a Markdown section and a plot.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HEADER = ["订单号", "收件人", "收件人电话", "收货地址", "金额"]


def _mobile(rng: random.Random) -> str:
    prefix = rng.choice(["130", "131", "135", "136", "138", "139", "150", "158", "177", "186"])
    digits = f"{prefix}{rng.randrange(10**8):08d}"
    form = rng.random()
    if form < 0.5:
        return digits
    if form < 0.65:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    if form < 0.75:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if form < 0.85:
        return f"+86 {digits}"
    if form < 0.92:
        return f"0086{digits}"
    return digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))


def _fixed(rng: random.Random) -> str:
    area = rng.choice(["010", "021", "020", "0755", "0571", "028"])
    return f"{area}-{rng.randrange(2 * 10**7, 9 * 10**7)}"


def generate_rows(count: int, seed: int = 7) -> list[list[str]]:
    rng = random.Random(seed)
    rows: list[list[str]] = []
    for i in range(count):
        if rows and rng.random() < 0.2:
            phone = rows[rng.randrange(len(rows))][2]
        else:
            kind = rng.random()
            phone = (
                _mobile(rng)
                if kind < 0.8
                else _fixed(rng)
                if kind < 0.92
                else rng.choice(["n/a", "无", "12345", "1381234567", "abc-def", ""])
            )
        rows.append([f"SO{i:08d}", "张三", phone, "广东省深圳市南山区科技园", f"{i % 997}.50"])
    return rows


def write_inputs(
    rows: list[list[str]],
    folder: Path,
    formats: tuple[str, ...] = ("csv-utf8", "csv-gbk", "xlsx"),
    *,
    shared_strings: bool = False,
) -> dict[str, Path]:
    """The lists as files; the workbook's texts inline, or, with ``shared_strings``, in
    the shared strings table as Excel writes them (xlsxwriter then holds the whole sheet
    in memory while writing)."""
    import xlsxwriter

    paths = {"csv-utf8": folder / "list-utf8.csv", "csv-gbk": folder / "list-gbk.csv"}
    for key, encoding in (("csv-utf8", "utf-8"), ("csv-gbk", "gbk")):
        if key not in formats:
            del paths[key]
            continue
        with paths[key].open("w", encoding=encoding, newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER)
            writer.writerows(rows)
    if "xlsx" not in formats:
        return paths
    paths["xlsx"] = folder / "list.xlsx"
    book = xlsxwriter.Workbook(str(paths["xlsx"]), {"constant_memory": not shared_strings})
    sheet = book.add_worksheet()
    for r, row in enumerate([HEADER, *rows]):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    return paths


def floor_rate(rows: list[list[str]], sample: int = 20_000) -> float:
    """Rows per second of bare phonenumbers calls on one core: the work we cannot skip.
    A first pass over a few rows loads the library's metadata, which is not timed."""
    import phonenumbers
    from phonenumbers import carrier, geocoder

    phones = [r[2] for r in rows[:sample]]
    for raw in phones[:200]:
        with contextlib.suppress(phonenumbers.NumberParseException):
            geocoder.description_for_number(phonenumbers.parse(raw, "CN"), "zh")
    started = time.perf_counter()
    for raw in phones:
        try:
            n = phonenumbers.parse(raw, "CN")
        except phonenumbers.NumberParseException:
            continue
        phonenumbers.is_valid_number(n)
        phonenumbers.number_type(n)
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
        geocoder.description_for_number(n, "zh")
        carrier.name_for_number(n, "zh")
    return len(phones) / (time.perf_counter() - started)


def _proc_kb(pid: int, file: str, field: str) -> int:
    """A kB figure of /proc/<pid>/<file>, e.g. status VmHWM: (peak RSS)."""
    with open(f"/proc/{pid}/{file}") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _peak_kb(pid: int) -> int:
    return _proc_kb(pid, "status", "VmHWM:")


def _pss_kb(pid: int) -> int:
    return _proc_kb(pid, "smaps_rollup", "Pss:")


def run_child(path: str, workers: int, warm: bool = False) -> dict[str, Any]:
    """In a fresh process: the whole pipeline once; report time and peak memory.

    ``warm``: first a small list of other numbers, untimed, as the service's process has
    its pool of workers running after its first job; then the timed run."""
    from phonetool.pipeline import Options, process_file
    from phonetool.pipeline.run import _POOLS, shutdown_pools

    out = Path(tempfile.mkdtemp(prefix="pipeline-out-"))
    if warm:
        first = write_inputs(generate_rows(2_000, seed=99), out, formats=("csv-utf8",))
        process_file(first["csv-utf8"], out, Options(workers=workers))
        for f in out.iterdir():
            f.unlink()
    started = time.perf_counter()
    result = process_file(Path(path), out, Options(workers=workers))
    seconds = time.perf_counter() - started
    # Workers are children of the fork server, so read their peak from /proc.
    workers_pids = [pid for pool in _POOLS.values() for pid in pool._processes]
    worker_peak = max((_peak_kb(pid) for pid in workers_pids), default=0)
    # What the run holds in all, shared pages counted once: the workers share the phone
    # data the fork server loaded, which each one's RSS counts in full.
    from multiprocessing import forkserver

    server = getattr(forkserver._forkserver, "_forkserver_pid", None)
    everyone = [os.getpid(), *workers_pids, *([server] if server and workers > 1 else [])]
    total_pss = sum(_pss_kb(pid) for pid in everyone)
    shutdown_pools()
    for f in out.iterdir():
        f.unlink()
    out.rmdir()
    return {
        "rows": result.summary["rows_in"],
        "seconds": seconds,
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would
        # report its parent's peak (the parent held the generated rows).
        "peak_main_mb": _peak_kb(os.getpid()) / 1024,
        "peak_worker_mb": worker_peak / 1024,
        "pss_all_mb": total_pss / 1024,
    }


def measure(
    sizes: list[int], workers_list: list[int], repeat: int, warm_sizes: set[int]
) -> dict[str, Any]:
    """Each run beside a floor measured just before it: the machine is shared, and its
    speed drifts between runs more than between a run and the one before. Every run is
    repeated; the report gives medians (and the worst memory). At ``warm_sizes``, the
    runs on all cores are made once more with the pool already running."""
    trials = []
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        for size in sizes:
            rows = generate_rows(size)
            sample = rows[:20_000]
            paths = write_inputs(rows, Path(tmp))
            del rows
            for _ in range(repeat):  # rounds, so that a slow spell spreads over all runs
                kinds = [(w, False) for w in workers_list]
                if size in warm_sizes:
                    kinds.append((max(workers_list), True))
                for fmt, path in paths.items():
                    for workers, warm in kinds:
                        floor = floor_rate(sample)
                        command = ["run-child", str(path), str(workers), *(["warm"] * warm)]
                        done = subprocess.run(
                            [sys.executable, __file__, *command],
                            check=True,
                            capture_output=True,
                            text=True,
                            cwd=ROOT,
                        )
                        result = json.loads(done.stdout.strip().splitlines()[-1])
                        trials.append(
                            {
                                "size": size,
                                "format": fmt,
                                "workers": workers,
                                "warm": warm,
                                "floor_rows_per_s": floor,
                                **result,
                            }
                        )
                        print(json.dumps(trials[-1]), file=sys.stderr)
    runs = _medians(trials)
    floors = sorted(r["floor_rows_per_s"] for r in trials)
    return {"floor_rows_per_s": floors[len(floors) // 2], "runs": runs, "trials": trials}


def _medians(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per size, input and processes: median time, floor and ratio, the
    ratio's range, and the largest memory seen."""
    groups: dict[tuple[int, str, int, bool], list[dict[str, Any]]] = {}
    for t in trials:
        groups.setdefault((t["size"], t["format"], t["workers"], t["warm"]), []).append(t)
    runs = []
    for (size, fmt, workers, warm), group in groups.items():
        ratios = [t["rows"] / t["seconds"] / (t["floor_rows_per_s"] * workers) for t in group]
        runs.append(
            {
                "size": size,
                "format": fmt,
                "workers": workers,
                "warm": warm,
                "trials": len(group),
                "rows": group[0]["rows"],
                "seconds": statistics.median(t["seconds"] for t in group),
                "floor_rows_per_s": statistics.median(t["floor_rows_per_s"] for t in group),
                "ratio": statistics.median(ratios),
                "ratio_range": [min(ratios), max(ratios)],
                **{
                    key: max(t[key] for t in group)
                    for key in ("peak_main_mb", "peak_worker_mb", "pss_all_mb")
                },
            }
        )
    return runs


def markdown(report: dict[str, Any], plot_name: str) -> str:
    floor = report["floor_rows_per_s"]
    lines = [
        "## Pipeline throughput and memory",
        "",
        f"{os.cpu_count()} cores. Whole pipeline, read to both exports, each run in a fresh"
        " process. Floor: bare phonenumbers (parse, is_valid, type, E.164, geocoder,"
        " carrier) in one process, no cache, on the first 20,000 of the same rows, measured"
        " just before each run. Each run was made"
        f" {max(r['trials'] for r in report['runs'])} times, in rounds; the table"
        " gives medians: seconds, the floor, and the ratio of each run's rate to its own"
        " floor times the processes (with the lowest and highest of the runs); memory is the"
        " largest seen. A run's worker pool is started by the run, as in the `phonetool`"
        " command; rows marked *running* had it started by a small list before, as the"
        " service's process keeps it after its first job."
        f" Median floor: **{floor:,.0f} rows/s** ({1e6 / floor:.0f} µs a row).",
        "",
        "| rows | input | processes | seconds | rows/s | floor rows/s | ÷ (floor × processes)"
        " | range | peak RSS, main | peak RSS, largest worker | all processes at the end (PSS) |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["runs"]:
        rate = r["rows"] / r["seconds"]
        low, high = r["ratio_range"]
        worker = f"{r['peak_worker_mb']:.0f} MB" if r["workers"] > 1 else "—"
        lines.append(
            f"| {r['size']:,} | {r['format']}"
            f" | {r['workers']}{', *running*' if r['warm'] else ''} | {r['seconds']:.1f}"
            f" | {rate:,.0f} | {r['floor_rows_per_s']:,.0f} | **{r['ratio']:.2f}**"
            f" | {low:.2f}–{high:.2f}"
            f" | {r['peak_main_mb']:.0f} MB | {worker} | {r['pss_all_mb']:.0f} MB |"
        )
    lines += [
        "",
        "Peak RSS counts shared pages in every process that maps them: the workers share"
        " the phone data their fork server loaded (~110 MB). The last column adds up each"
        " process's proportional share (PSS) of main, fork server and workers once the"
        " file is done.",
        "",
        f"![throughput and memory by size]({plot_name})",
        "",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for fmt in sorted({r["format"] for r in report["runs"]}):
        for workers in sorted({r["workers"] for r in report["runs"]}):
            runs = [
                r
                for r in report["runs"]
                if r["format"] == fmt and r["workers"] == workers and not r["warm"]
            ]
            sizes = [r["size"] for r in runs]
            label = f"{fmt}, {workers} proc"
            left.plot(sizes, [r["rows"] / r["seconds"] for r in runs], marker="o", label=label)
            right.plot(sizes, [r["peak_main_mb"] for r in runs], marker="o", label=label)
    floor = report["floor_rows_per_s"]
    left.axhline(floor, color="grey", linestyle="--", label="floor, 1 process")
    for ax, title in ((left, "rows per second"), (right, "peak RSS of the main process (MB)")):
        ax.set_xscale("log")
        ax.set_xlabel("rows")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    left.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "run-child":
        print(json.dumps(run_child(sys.argv[2], int(sys.argv[3]), "warm" in sys.argv[4:])))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, for medians")
    parser.add_argument(
        "--warm-sizes", default="10000,100000", help="sizes also run with the pool running"
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    warm_sizes = {int(s) for s in args.warm_sizes.split(",") if s} if cores > 1 else set()
    sizes = [int(s) for s in args.sizes.split(",")]
    report = measure(sizes, sorted({1, cores}), args.repeat, warm_sizes)
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)
    if args.markdown:
        args.markdown.write_text(markdown(report, args.plot.name if args.plot else ""))


if __name__ == "__main__":
    main()
