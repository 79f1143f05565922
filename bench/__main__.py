"""``python -m bench``: run every benchmark (or ``--only`` some) and print one table; exit 1 if any fails.

Each benchmark compares a subject with a baseline measured in the same run (alternating rounds or
steps, medians, a ratio), never with an absolute figure from elsewhere. ``auth_me`` runs in this
process (it only drives servers); every other benchmark runs as its own command in a subprocess —
the same command documented for it alone — so their environments (instance directory, database,
Redis) never mix, and hands its rows back through a JSON file (``bench/payments.py``'s table is read
from its output). ``--quick`` makes each of them smaller: 4.7 minutes for all on the 2-core box
(2026-11-29).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import auth_me
from bench.harness import ROOT, BenchResult, machine_description
from bench.loadgen import make_load_generator
from bench.report import Row, format_table, read_rows, verdict
from bench.services import ADMIN_URL, postgres_answers

_NOISE = re.compile(r"^(W0000|I0000|E0000|INFO: Created TensorFlow|WARNING: All log messages before absl)")


@dataclass
class Benchmark:
    name: str
    description: str
    run: Callable[[argparse.Namespace, object], list[Row]]


def stream(cmd: list[str], env: dict[str, str] | None = None, timeout_s: float = 1800) -> tuple[int, str]:
    """Run a benchmark command, echoing its output indented (minus mediapipe's start-up chatter)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    lines = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if not _NOISE.match(line):
            print(f"    {line.rstrip()}", flush=True)
        if time.monotonic() > deadline:
            proc.kill()
            break
    return proc.wait(), "".join(lines)


def via_rows_json(module: str, args: list[str], name: str, env: dict[str, str] | None = None) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="miaohua-bench-rows-") as tmp:
        path = Path(tmp) / "rows.json"
        code, output = stream([sys.executable, "-m", module, *args, "--rows-json", str(path)], env)
        if not path.exists():
            return [Row(name, "-", "-", "-", "-", "FAIL", f"exit {code}, no result: {output.strip()[-300:]}")]
        return read_rows(path)


def run_auth_me(args: argparse.Namespace, load) -> list[Row]:
    rounds, duration = (3, 3.0) if args.quick else (args.rounds, args.duration)
    r: BenchResult = auth_me.run(load, rounds=rounds, duration_s=duration, warmup_s=args.warmup,
                                 log=lambda line: print(f"  {line}", flush=True))
    cpu_base, cpu_subject = r.cpu_median(r.baseline), r.cpu_median(r.subject)
    note = (f"server CPU/req {cpu_base:.0f} -> {cpu_subject:.0f} us ({cpu_base / cpu_subject:.1%})"
            if cpu_base and cpu_subject else "")
    if r.errors:
        note = f"errors {r.errors}; {note}"
    return [Row("auth_me (GET /api/v1/me)", f"bare {r.baseline_median:.0f} req/s", f"/me {r.subject_median:.0f} req/s",
                f"{r.ratio:.1%}", f">= {r.target_ratio:.0%}", verdict(r.passed), note)]


def run_uploads(args: argparse.Namespace, load) -> list[Row]:
    return via_rows_json("bench.uploads", ["--rounds", "3" if args.quick else "7"], "uploads")


def run_payments(args: argparse.Namespace, load) -> list[Row]:
    """``bench/payments.py`` prints its own table: its two rows are read from there."""
    cmd = [sys.executable, "-m", "bench.payments"] + (["--orders", "200", "--rounds", "2"] if args.quick else [])
    code, output = stream(cmd)
    return payments_rows(output, code)


def payments_rows(output: str, code: int) -> list[Row]:
    """The rows of the table ``bench/payments.py`` prints last: after its header line (``benchmark …``) and
    the dashes, each line of 6 cells separated by 2+ spaces ending in PASS/FAIL, named by its first cell."""
    lines = output.splitlines()
    header = max((i for i, line in enumerate(lines) if line.startswith("benchmark ")), default=None)
    rows = []
    if header is not None:
        for line in lines[header + 1:]:
            if set(line.strip()) <= {"-", " "}:
                continue
            cells = re.split(r"\s{2,}", line.strip())
            if len(cells) != 6 or cells[5] not in ("PASS", "FAIL"):
                break
            rows.append(Row(f"payments: {cells[0]}", cells[1], cells[2], cells[3], cells[4], cells[5]))
    missing = f"exit {code}; no result table: {output.strip()[-300:]}"
    return rows or [Row("payments", "-", "-", "-", "-", "FAIL", missing)]


def run_retention(args: argparse.Namespace, load) -> list[Row]:
    reason = postgres_answers()
    if reason is not None:
        return [Row("retention sweep", "-", "-", "-", "-", "SKIP", f"needs PostgreSQL: {reason}")]
    # Its own scratch database on the same server: bench.retention drops and recreates the one it is given.
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/miaohua_bench_retention_{os.getpid()}"
    sizes = ["--rows", "200000", "--small", "20000", "--batch-sizes", "1000"] if args.quick else []
    return via_rows_json("bench.retention", sizes, "retention sweep", env={**os.environ, "BENCH_DATABASE_URL": url})


def run_upload_memory(args: argparse.Namespace, load) -> list[Row]:
    sizes = ["--uploads", "300", "--users", "50"] if args.quick else []
    return via_rows_json("bench.upload_memory", sizes, "upload_memory")


def run_generation(args: argparse.Namespace, load) -> list[Row]:
    return via_rows_json("bench.generation", ["--quick"] if args.quick else [], "generation")


def run_job_poll(args: argparse.Namespace, load) -> list[Row]:
    reason = postgres_answers()
    if reason is not None:
        return [Row("job poll", "-", "-", "-", "-", "SKIP", f"needs PostgreSQL: {reason}")]
    return via_rows_json("bench.job_poll", ["--quick"] if args.quick else [], "job poll")


def run_hotpaths(args: argparse.Namespace, load) -> list[Row]:
    return via_rows_json("bench.hotpaths", ["--requests", "30", "--rounds", "2"] if args.quick else [], "hotpaths")


def run_load(args: argparse.Namespace, load) -> list[Row]:
    return via_rows_json("bench.load", ["--quick"] if args.quick else [], "load")


BENCHMARKS = {b.name: b for b in (
    Benchmark("auth_me", auth_me.DESCRIPTION, run_auth_me),
    Benchmark("uploads", "12 MP upload ingest vs Pillow decode+re-encode; vault vs raw AES-GCM", run_uploads),
    Benchmark("payments", "verified WeChat Pay notifications/s over HTTP vs verify+decrypt alone", run_payments),
    Benchmark("retention", "retention sweep of 1M operation-log rows on PostgreSQL: flat memory", run_retention),
    Benchmark("upload_memory", "web RSS after 100 and after 1,000 photo uploads, make run and gunicorn: flat",
              run_upload_memory),
    Benchmark("generation", "per-style CPU and memory, queue latency, 2 workers vs 1", run_generation),
    Benchmark("job_poll", "GET /jobs/<id> at 10/10k/100k queued over 1M job rows vs bare Flask; polls/s with "
              "next_poll_after_s", run_job_poll),
    Benchmark("hotpaths", "server CPU of /me, the job poll, login, order, notification, upload vs bare Flask; "
              "where it goes", run_hotpaths),
    Benchmark("load", "the mini-program's traffic mix on gunicorn + PostgreSQL + Redis + 2 workers", run_load),
)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller runs of every benchmark (4.7 minutes measured on the 2-core box)")
    parser.add_argument("--rounds", type=int, default=5, help="auth_me: measured rounds per side (default 5)")
    parser.add_argument("--duration", type=float, default=5.0, help="auth_me: seconds per round (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="auth_me: unmeasured seconds per side first")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="auth_me: auto = wrk if on PATH, else the Python generator")
    args = parser.parse_args(argv)

    load = make_load_generator(args.loadgen)
    print("Machine")
    for key, value in machine_description(load):
        print(f"  {key:<15} {value}")
    print(f"  {'mode':<15} {'--quick' if args.quick else 'full'}; auth_me {args.rounds} x {args.duration:g} s per side"
          f"{' (--quick: 3 x 3 s)' if args.quick else ''}, alternating, medians\n", flush=True)

    rows: list[Row] = []
    timings = []
    try:
        for name in args.only or list(BENCHMARKS):
            benchmark = BENCHMARKS[name]
            print(f"{name}: {benchmark.description}", flush=True)
            started = time.monotonic()
            try:
                rows += benchmark.run(args, load)
            except Exception as exc:  # one broken benchmark must not hide the others' results
                rows.append(Row(name, "-", "-", "-", "-", "FAIL", f"{type(exc).__name__}: {str(exc)[:300]}"))
            timings.append(f"{name} {time.monotonic() - started:.0f} s")
            print(flush=True)
    finally:
        close = getattr(load, "close", None)
        if close is not None:
            close()

    load1, load5, _ = os.getloadavg()
    print(f"Results ({', '.join(timings)}; load average now {load1:.2f} / {load5:.2f})")
    print(format_table(rows))
    return 1 if any(r.failed for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
