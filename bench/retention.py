"""The retention sweep over a million operation-log rows on PostgreSQL: time, and memory that stays flat.

    .venv/bin/python -m bench.retention [--rows 1000000] [--small 100000] [--batch-sizes 1000,10000] [--keep]

``BENCH_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/miaohua_bench_retention``) names a
database this script owns: it is dropped and created at the start and dropped at the end (``--keep`` keeps
it). For each batch size the script fills ``operation_logs`` server-side (``INSERT … SELECT
generate_series``: half the rows 200 days old, so past the 180-day period, interleaved with recent ones
by id — the worst case for a keyset walk), runs ``run_retention`` in this process, and reports the time,
the rows per second, and the process's resident memory: the peak during the sweep (sampled every 5 ms
from /proc/self/status) minus the resident memory just before it, and ``ru_maxrss``. The small fill
(``--small``) and the large one run in the same process, so the two peaks compare directly: if the sweep
never holds more than a batch, the peak growth is the same for 100k and 1M rows.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.services import bench_redis

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/miaohua_bench_retention"
USERS = 1000


def _admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    name = parts.path.lstrip("/")
    if not name:
        raise SystemExit("BENCH_DATABASE_URL must name a database")
    return urlunsplit(parts._replace(path="/postgres")), name


def recreate_database(url: str, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def current_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PeakSampler:
    """Samples this process's resident memory in a thread; ``peak`` is the highest value seen."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss_kib())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakSampler:
        self.peak = current_rss_kib()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_kib())


def build_app(url: str, redis_url: str, instance_dir: Path):
    # A real Redis: each batch's commit queues the deletion log's copy (app.privacy.deletion_log_copy), as in
    # production. Without one, the development default (make run's embedded queue, not running here) refused
    # every enqueue and logged a traceback per batch into the timed sweep.
    os.environ.update(MIAOHUA_ENV="development", DATABASE_URL=url, LOG_LEVEL="WARNING", REDIS_URL=redis_url,
                      MIAOHUA_INSTANCE_DIR=str(instance_dir))
    from app import create_app
    from app.extensions import db

    app = create_app()
    with app.app_context():
        db.create_all()
    return app


def fill(rows: int) -> None:
    from sqlalchemy import text

    from app.extensions import db

    db.session.execute(text("TRUNCATE operation_logs, deletion_log RESTART IDENTITY"))
    if not db.session.scalar(text("SELECT count(*) FROM users")):
        db.session.execute(text(
            "INSERT INTO users (public_id, status, created_at, updated_at) "
            "SELECT md5('user' || g), 'active', now(), now() FROM generate_series(1, :n) g"), {"n": USERS})
    first_user = db.session.scalar(text("SELECT min(id) FROM users"))
    db.session.execute(text(
        "INSERT INTO operation_logs (user_id, action, subject_type, subject_id, created_at) "
        "SELECT :first + (g % :users), 'download_preview', 'result', md5(g::text), "
        "       CASE WHEN g % 2 = 0 THEN now() - interval '200 days' - make_interval(secs => g % 86400) "
        "            ELSE now() - make_interval(secs => g % 86400) END "
        "FROM generate_series(1, :n) g"), {"first": first_user, "users": USERS, "n": rows})
    db.session.commit()
    db.session.execute(text("ANALYZE operation_logs"))
    db.session.commit()


def measure(app, rows: int, batch_size: int) -> dict:
    from sqlalchemy import text

    from app.extensions import db
    from app.privacy.retention import run_retention

    with app.app_context():
        fill(rows)
        db.session.remove()
    with app.app_context():
        before = current_rss_kib()
        started = time.perf_counter()
        with PeakSampler() as sampler:
            counts = run_retention(batch_size=batch_size)
        elapsed = time.perf_counter() - started
        left = db.session.scalar(text("SELECT count(*) FROM operation_logs"))
        logged = db.session.scalar(text("SELECT count(*) FROM deletion_log"))
        db.session.remove()
    deleted = counts["operation_logs"]
    if deleted != rows // 2 or left != rows - rows // 2 or logged != deleted:
        raise SystemExit(f"unexpected outcome: deleted={deleted} left={left} logged={logged} for {rows} rows")
    return {"rows": rows, "batch": batch_size, "deleted": deleted, "seconds": elapsed,
            "rows_per_s": deleted / elapsed, "batches": -(-deleted // batch_size), "rss_before_mib": before / 1024,
            "peak_growth_mib": (sampler.peak - before) / 1024, "peak_mib": sampler.peak / 1024,
            "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _row(small: dict, large: dict, ok: bool):
    """The runner's row: the small fill is the baseline, the ×10 fill the subject; memory must not grow."""
    from bench.report import Row, verdict

    return Row(f"retention sweep (batch {large['batch']:,})",
               f"{small['rows']:,} rows: +{small['peak_growth_mib']:.1f} MiB, {small['rows_per_s']:,.0f}/s",
               f"{large['rows']:,} rows: +{large['peak_growth_mib']:.1f} MiB, {large['rows_per_s']:,.0f}/s",
               f"{large['peak_growth_mib'] - small['peak_growth_mib']:+.1f} MiB", "< +16 MiB (flat)", verdict(ok))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--batch-sizes", default="1000,10000")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--rows-json", help="also write the result rows there (for python -m bench)")
    args = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise SystemExit("BENCH_DATABASE_URL must be a PostgreSQL URL")
    recreate_database(url)
    tmp = Path(tempfile.mkdtemp(prefix="miaohua-bench-retention-"))
    with bench_redis(tmp) as (redis_url, _):
        return _run(args, url, redis_url, tmp)


def _run(args: argparse.Namespace, url: str, redis_url: str, tmp: Path) -> int:
    app = None
    try:
        app = build_app(url, redis_url, tmp)
        results = []
        for batch in (int(size) for size in args.batch_sizes.split(",")):
            for rows in (args.small, args.rows):
                result = measure(app, rows, batch)
                results.append(result)
                print(f"rows={result['rows']:>9,} batch={result['batch']:>6,} deleted={result['deleted']:>8,} "
                      f"time={result['seconds']:7.2f}s ({result['rows_per_s']:>8,.0f} rows/s, "
                      f"{result['batches']} batches)  rss before={result['rss_before_mib']:6.1f} MiB "
                      f"peak growth={result['peak_growth_mib']:5.1f} MiB  ru_maxrss={result['ru_maxrss_mib']:6.1f} MiB",
                      flush=True)
        print("\nmemory stays flat when the peak growth for the large fill matches the small one:")
        flat = True
        rows = []
        for batch in sorted({r["batch"] for r in results}):
            small, large = (r for r in results if r["batch"] == batch)
            ratio_rows = large["rows"] / small["rows"]
            growth = large["peak_growth_mib"] - small["peak_growth_mib"]
            ok = growth < 16  # MiB: allocator noise, not proportional to the ×10 rows
            flat &= ok
            print(f"  batch {batch:>6,}: ×{ratio_rows:g} rows → peak growth {small['peak_growth_mib']:.1f} → "
                  f"{large['peak_growth_mib']:.1f} MiB ({'flat' if ok else 'NOT FLAT'})")
            rows.append(_row(small, large, ok))
        if args.rows_json:
            from bench.report import write_rows

            write_rows(args.rows_json, rows)
        return 0 if flat else 1
    finally:
        if app is not None:
            from app.extensions import db

            with app.app_context():
                db.engine.dispose()
        if not args.keep:
            recreate_database(url, drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
