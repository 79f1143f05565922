"""``python -m bench``: run every benchmark and print one table (exit 1 if any fails).

Each benchmark compares a subject with a baseline served by the same gunicorn settings in the same
run, in alternating rounds; the result is the ratio of the medians, never an absolute figure.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import auth_me
from bench.harness import BenchResult, machine_description
from bench.loadgen import make_load_generator

BENCHMARKS = {auth_me.NAME: auth_me}


def print_table(results: list[BenchResult]) -> None:
    header = ("benchmark", "baseline req/s", "subject req/s", "ratio", "target", "result")
    rows = [header]
    for r in results:
        verdict = "PASS" if r.passed else ("FAIL (errors)" if r.errors else "FAIL")
        rows.append((r.name, f"{r.baseline_median:.1f}", f"{r.subject_median:.1f}", f"{r.ratio:.1%}",
                     f">= {r.target_ratio:.0%}", verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if i in (0, 5) else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per side (default 5)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per side first (default 1)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="auto: wrk if on PATH, else the Python generator")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these")
    args = parser.parse_args(argv)

    load = make_load_generator(args.loadgen)
    print("Machine")
    for key, value in machine_description(load):
        print(f"  {key:<15} {value}")
    print(f"  {'rounds':<15} {args.rounds} x {args.duration:g} s per side, alternating, after {args.warmup:g} s "
          "warm-up; medians")
    print()

    results: list[BenchResult] = []
    try:
        for name in args.only or list(BENCHMARKS):
            module = BENCHMARKS[name]
            print(f"{name}: {module.DESCRIPTION}")
            started = time.monotonic()
            result = module.run(load, rounds=args.rounds, duration_s=args.duration, warmup_s=args.warmup)
            spread = [f"{side} min-max {min(x.rps for x in rs):.1f}-{max(x.rps for x in rs):.1f}"
                      for side, rs in (("baseline", result.baseline), ("subject", result.subject))]
            print(f"  req/s {', '.join(spread)}; took {time.monotonic() - started:.0f} s")
            cpu_base, cpu_subject = result.cpu_median(result.baseline), result.cpu_median(result.subject)
            if cpu_base and cpu_subject:
                print(f"  server CPU per request (median): baseline {cpu_base:.0f} us, subject {cpu_subject:.0f} us, "
                      f"baseline/subject {cpu_base / cpu_subject:.1%} (less sensitive to other load; informative)")
            if result.errors:
                print(f"  ERRORS: {result.errors}")
            print()
            results.append(result)
    finally:
        close = getattr(load, "close", None)
        if close is not None:
            close()

    print(f"Results (load generator: {load.name})")
    print_table(results)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
