"""Generation benchmark (issue #6): what each style costs, and how fast the queue hands jobs to workers.

    .venv/bin/python -m bench.generation [--quick] [--parts styles,latency,throughput] [--reps 3]

1. **styles**: for every style of the catalogue, the CPU time and peak memory of one
   ``ClassicalGenerator.generate`` call on a 1024×1024 JPEG portrait (the sample portrait upscaled), each
   style in a **fresh subprocess** so high-water marks never mix. In that process: import the stack,
   decode, run the face models once (a warm worker), then alternate the baseline — Pillow decode +
   LANCZOS resize to 512 + JPEG encode of the same 1024 px file — with the style, ``--reps`` times each,
   and report the medians and their ratio. CPU is ``time.process_time`` (every thread: OpenCV uses both
   cores in places) plus the CPU of reaped children (the video's ffmpeg). Memory: the process's RSS
   high-water (``ru_maxrss``, imports and models included: what a worker must be given), the job's own
   peak over the warm process (VmHWM reset after the warm-up, read after the timed calls), the
   ``tracemalloc`` peak of one more call (numpy buffers included; OpenCV's internal scratch is not), and
   the video's ffmpeg high-water (a child process, counted apart).
   Target (ours, for sizing worker boxes): high-water < 1 GiB per style.
2. **latency** and 3. **throughput**: see ``bench/generation_queue.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
from pathlib import Path

from bench.harness import ROOT, cpu_count, cpu_model
from bench.report import Row, format_table, verdict, write_rows

SAMPLE = ROOT / "tests" / "data" / "portrait-astronaut.png"
INPUT_SIDE = 1024
BASELINE_SIDE = 512
MEMORY_BUDGET_MIB = 1024


def sample_sources(count: int) -> list[bytes]:
    """The sample portrait as a 1024×1024 JPEG (q92); avatar sources add a mirrored and a tilted copy."""
    from PIL import Image, ImageOps

    base = Image.open(SAMPLE).convert("RGB").resize((INPUT_SIDE, INPUT_SIDE), Image.Resampling.LANCZOS)
    variants = [base, ImageOps.mirror(base), base.rotate(4, resample=Image.Resampling.BICUBIC, fillcolor=(128,) * 3)]
    out = []
    for image in variants[:count]:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=92)
        out.append(buffer.getvalue())
    return out


def pillow_baseline(data: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB").resize((BASELINE_SIDE, BASELINE_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=92)
    return out.getvalue()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def current_rss_kib() -> int:
    return _status_kib("VmRSS")


def reset_peak_rss() -> int:
    """Reset this process's peak-RSS mark (VmHWM) to its current RSS (Linux ≥ 4.0: ``5`` > clear_refs), so
    the peak read afterwards belongs to what ran since, not to the imports and model loading before; returns
    the current RSS (KiB)."""
    with contextlib.suppress(OSError):  # else the peak includes the warm-up's transient peak (an over-estimate)
        Path("/proc/self/clear_refs").write_text("5")
    return current_rss_kib()


def _cpu_now() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure_here(style_id: str, reps: int) -> dict:
    """Inside the fresh subprocess: warm up, alternate baseline and style, then one traced call."""
    from workers.generators import GenerationRequest, get_generator, get_style
    from workers.generators import analysis as an
    from workers.generators.base import SOURCE_COUNTS
    from workers.generators.imaging import decode_image

    spec = get_style(style_id)
    sources = sample_sources(SOURCE_COUNTS[spec.kind][0])
    request = GenerationRequest(style=spec, sources=tuple(sources), image_format="jpeg")
    generator = get_generator("classical")
    an.analyse_portrait(decode_image(sources[0]))  # the face models load once per worker process
    pillow_baseline(sources[0])
    rss_warm = reset_peak_rss()

    base_cpu, base_wall, cpu, wall = [], [], [], []
    outputs = None
    for _ in range(reps):
        for fn, cpu_list, wall_list in ((lambda: pillow_baseline(sources[0]), base_cpu, base_wall),
                                        (lambda: generator.generate(request, None), cpu, wall)):
            c0, w0 = _cpu_now(), time.perf_counter()
            result = fn()
            cpu_list.append(_cpu_now() - c0)
            wall_list.append(time.perf_counter() - w0)
            if cpu_list is cpu:
                outputs = result
    high_water = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    job_peak = _status_kib("VmHWM")
    tracemalloc.start()
    generator.generate(request, None)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    children_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    [first] = outputs
    return {"style": style_id, "kind": spec.kind, "reps": reps, "output": f"{first.width}x{first.height} {first.mime}",
            "cpu_s": statistics.median(cpu), "wall_s": statistics.median(wall),
            "baseline_cpu_s": statistics.median(base_cpu), "baseline_wall_s": statistics.median(base_wall),
            "rss_warm_mib": rss_warm / 1024, "high_water_mib": high_water / 1024,
            "growth_mib": (job_peak - rss_warm) / 1024, "traced_peak_mib": traced_peak / 2**20,
            "children_max_rss_mib": children_max / 1024}


def measure_baseline_memory_here() -> dict:
    """The baseline's own fresh process: the same imports and warm models, then only Pillow."""
    from workers.generators import analysis as an
    from workers.generators import get_generator
    from workers.generators.imaging import decode_image

    [source] = sample_sources(1)
    get_generator("classical")
    an.analyse_portrait(decode_image(source))
    pillow_baseline(source)
    rss_warm = reset_peak_rss()
    for _ in range(3):
        pillow_baseline(source)
    high_water = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    job_peak = _status_kib("VmHWM")
    tracemalloc.start()
    pillow_baseline(source)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"rss_warm_mib": rss_warm / 1024, "high_water_mib": high_water / 1024,
            "growth_mib": (job_peak - rss_warm) / 1024, "traced_peak_mib": traced_peak / 2**20}


def _in_fresh_process(args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.generation", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench.generation {' '.join(args)} failed:\n{out.stdout[-1500:]}{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def style_costs(reps: int, log=print) -> tuple[list[dict], dict]:
    from workers.generators import list_styles

    env = {**os.environ, "MPLCONFIGDIR": os.environ.get("MPLCONFIGDIR") or tempfile.mkdtemp(prefix="bench-mpl-")}
    baseline = _in_fresh_process(["--child-baseline"], env)
    log(f"  baseline process (imports + warm models, then Pillow only): high-water {baseline['high_water_mib']:.0f} "
        f"MiB, growth {baseline['growth_mib']:.1f} MiB, traced peak {baseline['traced_peak_mib']:.1f} MiB")
    results = []
    for spec in list_styles():
        result = _in_fresh_process(["--child-style", spec.id, "--reps", str(reps)], env)
        results.append(result)
        extra = (f", ffmpeg high-water {result['children_max_rss_mib']:.0f} MiB"
                 if result["children_max_rss_mib"] > 1 else "")
        log(f"  {spec.id:<14} CPU {result['cpu_s']:6.2f} s (baseline {result['baseline_cpu_s'] * 1000:5.1f} ms, "
            f"{result['cpu_s'] / result['baseline_cpu_s']:5.0f}x)  wall {result['wall_s']:5.2f} s  high-water "
            f"{result['high_water_mib']:4.0f} MiB  growth {result['growth_mib']:5.0f} MiB  traced "
            f"{result['traced_peak_mib']:5.0f} MiB{extra}  -> {result['output']}")
    return results, baseline


def style_rows(results: list[dict]) -> list[Row]:
    rows = []
    for r in results:
        ratio = r["cpu_s"] / r["baseline_cpu_s"] if r["baseline_cpu_s"] else float("inf")
        ok = r["high_water_mib"] < MEMORY_BUDGET_MIB and r["children_max_rss_mib"] < MEMORY_BUDGET_MIB
        rows.append(Row(f"style {r['style']}", f"Pillow {r['baseline_cpu_s'] * 1000:.0f} ms CPU",
                        f"{r['cpu_s']:.2f} s CPU, RSS {r['high_water_mib']:.0f} MiB (+{r['growth_mib']:.0f})",
                        f"{ratio:.0f}x", f"RSS < {MEMORY_BUDGET_MIB} MiB", verdict(ok)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="styles,latency,throughput",
                        help="comma-separated: styles, latency, throughput (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions and jobs (about 2 minutes on the 2-core box)")
    parser.add_argument("--reps", type=int, help="timed calls per style and side (default 3; --quick 1)")
    parser.add_argument("--jobs", type=int, help="latency samples (default 60; --quick 50)")
    parser.add_argument("--batch", type=int, help="generation jobs per throughput batch (default 10; --quick 4)")
    parser.add_argument("--rounds", type=int,
                        help="throughput rounds of (1 worker, 2 workers, 1 preloaded) (default 2; --quick 1)")
    parser.add_argument("--rows-json", help=argparse.SUPPRESS)
    parser.add_argument("--child-style", help=argparse.SUPPRESS)
    parser.add_argument("--child-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_style:
        print(json.dumps(measure_here(args.child_style, args.reps or 1)))
        return 0
    if args.child_baseline:
        print(json.dumps(measure_baseline_memory_here()))
        return 0

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"styles", "latency", "throughput"}
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    load1, load5, _ = os.getloadavg()
    print(f"machine: {cpu_count()} cores ({cpu_model()}), load {load1:.2f}/{load5:.2f} (1/5 min) at start", flush=True)
    rows: list[Row] = []
    started = time.monotonic()
    if "styles" in parts:
        reps = args.reps or (1 if args.quick else 3)
        print(f"styles: 1024x1024 JPEG input, fresh process per style, {reps} timed call(s) per side", flush=True)
        results, _ = style_costs(reps)
        rows += style_rows(results)
    if {"latency", "throughput"} & set(parts):
        from bench import generation_queue

        try:
            rows += generation_queue.run(latency="latency" in parts, throughput="throughput" in parts,
                                         jobs=args.jobs or (50 if args.quick else 60),
                                         batch=args.batch or (4 if args.quick else 10),
                                         rounds=args.rounds or (1 if args.quick else 2), variants=not args.quick)
        except Exception as exc:  # keep the style rows; say what broke
            traceback.print_exc()
            rows.append(Row("generation queue", "-", "-", "-", "-", "FAIL", f"{type(exc).__name__}: {exc}"[:300]))
    print(f"\ntook {time.monotonic() - started:.0f} s")
    print(format_table(rows))
    if args.rows_json:
        write_rows(args.rows_json, rows)
    return 1 if any(r.failed for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
