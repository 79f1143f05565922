"""Queue latency and worker throughput of generation jobs (issue #6), on a real Redis and real workers.

Set-up: ``BENCH_REDIS_URL`` or a private ``redis-server``; ``BENCH_DATABASE_URL``, else a fresh PostgreSQL
database on 127.0.0.1:5432 (dropped at the end), else a SQLite file; ``flask db upgrade`` + ``policy init``;
workers are the deployed command, ``python -m workers --queues generation`` (RQ's forking worker: one work
horse per job), each its own process. Uploads are ingested and jobs created in this process through the
app's own services (``uploads.services.ingest``, ``generation.services.create_job``: the POST handlers
without HTTP; content check off), so every job is a real one: claimed sources, the runner, likeness
check, encrypted results, source deletion.

- **latency** (target p50 < 100 ms, the issue's): a warm, idle worker; one job at a time, ``--jobs`` of
  them, 100 ms apart. Subject: enqueue of a trivial job (``bench.queue_probe.stamp``, which returns the
  time it started) → the job function starts. Baseline, alternating with it: a process blocked in a raw
  ``BLPOP`` that stamps the time it woke — the floor of any Redis queue. Also measured: the same with
  ``--simple`` (no fork), and real generation jobs (``pop_art``), from just before ``create_job`` to the
  row's ``started_at``, split into create+commit+enqueue / queue → RQ starts it (RQ's own ``started_at``,
  in the work horse) / RQ start → the runner has locked the row and stamped it.
- **throughput**: the same batch of ``--batch`` real ``pop_art`` jobs (1024 px source) drained by 1 worker
  process, then by 2, ``--rounds`` times; jobs/s = batch / (first ``create_job`` → last ``finished_at``).
  Also the workers' CPU (processes and their reaped work horses, /proc) per job and in cores used.
- variants (not with ``--quick``): real jobs on a ``--simple`` worker, and 1 worker that imports the model
  stack (``PRELOAD``) before it starts, so its work horses inherit it: the measure of a proposed change.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import ROOT
from bench.report import Row, verdict
from bench.services import Worker, app_env, bench_database, bench_redis, migrate

BATCH_STYLE = "pop_art"
LATENCY_TARGET_MS = 100.0
GAP_S = 0.1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _wait_for_workers(conn, count: int, workers: list[Worker], timeout_s: float = 60) -> None:
    from rq import Queue
    from rq import Worker as RQWorker

    queue = Queue("generation", connection=conn)
    deadline = time.monotonic() + timeout_s
    while RQWorker.count(connection=conn, queue=queue) < count:
        dead = [w for w in workers if not w.alive()]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"{count} worker(s) did not register\n{(dead or workers)[0].log_tail()}")
        time.sleep(0.1)


def _probe_once(queue) -> float:
    """Enqueue a trivial job and wait for it; seconds from enqueue to the job function's start."""
    from bench.queue_probe import stamp

    enqueued = time.time()
    job = queue.enqueue(stamp)
    result = job.latest_result(timeout=20)
    if result is None or result.type != result.Type.SUCCESSFUL:
        raise RuntimeError(f"probe job {job.id} did not succeed: {result and result.exc_string}")
    return float(result.return_value) - enqueued


def _raw_once(conn, key: str) -> float:
    enqueued = time.time()
    conn.rpush(key, b"x")
    reply = conn.blpop([f"{key}:reply"], timeout=20)
    if reply is None:
        raise RuntimeError("the raw BLPOP listener did not answer")
    woke_at = float(reply[1])
    return woke_at - enqueued


def _trivial_latency(conn, env, tmp, jobs: int, simple: bool, log) -> tuple[list[float], list[float]]:
    """(baseline, subject) latencies in ms, alternating; one worker, warm."""
    from rq import Queue

    queue = Queue("generation", connection=conn)
    key = f"bench:raw:{uuid.uuid4().hex}"
    listener = subprocess.Popen([sys.executable, "-m", "bench.queue_probe", env["REDIS_URL"], key], cwd=ROOT,
                                env=env, start_new_session=True)
    worker = Worker(f"bench-{'simple' if simple else 'fork'}-{uuid.uuid4().hex[:6]}", env, tmp, simple=simple)
    try:
        with worker:
            _wait_for_workers(conn, 1, [worker])
            for _ in range(3):  # warm: the worker's first jobs, the listener's connection
                _probe_once(queue)
                _raw_once(conn, key)
                time.sleep(GAP_S)
            raw, probe = [], []
            for _ in range(jobs):
                raw.append(_raw_once(conn, key) * 1000)
                time.sleep(GAP_S)
                probe.append(_probe_once(queue) * 1000)
                time.sleep(GAP_S)
    finally:
        conn.rpush(key, b"stop")
        try:
            listener.wait(timeout=5)
        except subprocess.TimeoutExpired:
            listener.kill()
        conn.delete(key, f"{key}:reply")
    kind = "--simple (no fork)" if simple else "forking (deployed)"
    log(f"  latency, {kind} worker, {jobs} jobs: enqueue->start p50 {percentile(probe, 50):.1f} ms, "
        f"p95 {percentile(probe, 95):.1f} ms, max {max(probe):.1f} ms; raw BLPOP wake-up p50 "
        f"{percentile(raw, 50):.2f} ms, p95 {percentile(raw, 95):.2f} ms")
    return raw, probe


# --- real jobs ------------------------------------------------------------------------------------

def _make_user():
    from app.accounts.models import User
    from app.extensions import db

    user = User(nickname=f"bench {uuid.uuid4().hex[:6]}")
    db.session.add(user)
    db.session.commit()
    return user


def _ingest(user, source: bytes, count: int) -> list[str]:
    from app.uploads import services as uploads

    return [uploads.ingest(user, source, "own_face").public_id for _ in range(count)]


def _job_rows(ids: list[int]):
    from sqlalchemy import select

    from app.extensions import db
    from app.generation.models import GenerationJob

    db.session.rollback()  # a fresh snapshot (SQLite keeps one per transaction)
    return db.session.execute(select(GenerationJob.id, GenerationJob.status, GenerationJob.started_at,
                                     GenerationJob.finished_at, GenerationJob.sources_deleted_at,
                                     GenerationJob.error_code).where(GenerationJob.id.in_(ids))).all()


def _wait_finished(ids: list[int], workers: list[Worker], timeout_s: float = 600):
    deadline = time.monotonic() + timeout_s
    while True:
        rows = _job_rows(ids)
        if all(r.status in ("succeeded", "failed", "cancelled") for r in rows) and len(rows) == len(ids):
            return rows
        if time.monotonic() > deadline or not all(w.alive() for w in workers):
            raise RuntimeError(f"jobs did not finish: {[r.status for r in rows]}\n{workers[0].log_tail()}")
        time.sleep(0.02)


def _check(rows) -> list[str]:
    bad = [f"job {r.id}: {r.status} ({r.error_code})" for r in rows if r.status != "succeeded"]
    bad += [f"job {r.id}: sources not deleted" for r in rows if r.sources_deleted_at is None]
    return bad


def _real_latency(user, source: bytes, count: int, workers: list[Worker], conn):
    """Latencies in ms (create_job called -> the row's started_at), where they go, and problems."""
    from rq.job import Job

    from app.generation import services

    latencies, problems = [], []
    parts: dict[str, list[float]] = {"create_job + commit + enqueue": [], "queue -> RQ starts the job": [],
                                     "RQ start -> runner marks the row started": []}
    for upload_id in _ingest(user, source, count):
        created = time.time()
        job = services.create_job(user, BATCH_STYLE, [upload_id])
        [row] = _wait_finished([job.id], workers)
        problems += _check([row])
        if row.started_at is not None:
            latencies.append((_epoch(row.started_at) - created) * 1000)
            rq_job = Job.fetch(job.rq_job_id, connection=conn)
            if rq_job.enqueued_at and rq_job.started_at:
                enqueued, rq_started = _epoch(rq_job.enqueued_at), _epoch(rq_job.started_at)
                parts["create_job + commit + enqueue"].append((enqueued - created) * 1000)
                parts["queue -> RQ starts the job"].append((rq_started - enqueued) * 1000)
                parts["RQ start -> runner marks the row started"].append((_epoch(row.started_at) - rq_started) * 1000)
        time.sleep(GAP_S)
    breakdown = ", ".join(f"{name} {statistics.median(values):.0f} ms" for name, values in parts.items() if values)
    return latencies, problems, breakdown


def _drain(user, source: bytes, batch: int, n_workers: int, env, tmp, conn, preload: tuple[str, ...] = ()) -> dict:
    from app.generation import services

    uploads = _ingest(user, source, batch)
    workers = [Worker(f"bench-tp{n_workers}-{i}-{uuid.uuid4().hex[:6]}", env, tmp, preload=preload)
               for i in range(n_workers)]
    with ExitStack() as stack:
        for worker in workers:
            stack.enter_context(worker)
        _wait_for_workers(conn, n_workers, workers)
        cpu_before = sum(w.cpu_s() or 0.0 for w in workers)
        started = time.time()
        ids = [services.create_job(user, BATCH_STYLE, [upload_id]).id for upload_id in uploads]
        rows = _wait_finished(ids, workers)
        cpu = sum(w.cpu_s() or 0.0 for w in workers) - cpu_before
    elapsed = max(_epoch(r.finished_at) for r in rows) - started
    return {"jobs_per_s": batch / elapsed, "seconds": elapsed, "cpu_per_job_s": cpu / batch,
            "cores": cpu / elapsed, "problems": _check(rows)}


def run(*, latency: bool, throughput: bool, jobs: int, batch: int, rounds: int, variants: bool = True,
        log=print) -> list[Row]:
    """``variants``: also the non-deployed variants (real jobs on ``--simple``, the preloaded worker)."""
    from bench.generation import sample_sources

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="miaohua-bench-generation-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        redis_url, redis_note = stack.enter_context(bench_redis(tmp))
        database_url, db_note = stack.enter_context(bench_database(tmp, "generation", allow_sqlite=True))
        # One bench user makes every upload and job: the per-user flood limits are lifted for it (a throughput
        # batch is one user's burst; the fair queue still releases one job as the previous one starts).
        env = app_env(tmp, database_url, redis_url, CONTENT_CHECK_ENABLED="0",
                      RATE_LIMIT_UPLOADS_PER_USER="100000/minute", UPLOAD_MAX_UNCLAIMED_PER_USER="100000",
                      GENERATION_MAX_QUEUED_PER_USER="100000")
        log(f"queue: Redis {redis_note}; database {db_note}")
        migrate(env)
        os.environ.update(env)  # before the app is imported: app.config reads the instance directory then
        from redis import Redis

        from app import create_app
        from app.extensions import db

        app = create_app()
        conn = Redis.from_url(redis_url, socket_timeout=30)
        [source] = sample_sources(1)
        try:
            with app.app_context():
                user = _make_user()
                if latency:
                    rows += _latency_rows(conn, env, tmp, user, source, jobs, variants, log)
                if throughput:
                    rows += _throughput_rows(conn, env, tmp, user, source, batch, rounds, variants, log)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    return rows


def _real_jobs(conn, env, tmp, user, source, count: int, simple: bool, log) -> tuple[list[float], list[str], str]:
    kind = "--simple" if simple else "forking"
    worker = Worker(f"bench-real-{'simple' if simple else 'fork'}-{uuid.uuid4().hex[:6]}", env, tmp, simple=simple)
    with worker:
        _wait_for_workers(conn, 1, [worker])
        real, problems, breakdown = _real_latency(user, source, count, [worker], conn)
    log(f"  latency, real {BATCH_STYLE} jobs ({count}, {kind} worker): create_job -> started_at p50 "
        f"{percentile(real, 50):.1f} ms, p95 {percentile(real, 95):.1f} ms{'; PROBLEMS ' if problems else ''}"
        f"{'; '.join(problems)}")
    log(f"    medians: {breakdown}")
    return real, problems, breakdown


def _latency_rows(conn, env, tmp, user, source, jobs, variants, log) -> list[Row]:
    raw, forked = _trivial_latency(conn, env, tmp, jobs, simple=False, log=log)
    real_count = max(5, jobs // 6)
    real, problems, breakdown = _real_jobs(conn, env, tmp, user, source, real_count, False, log)
    raw_simple, simple = _trivial_latency(conn, env, tmp, jobs, simple=True, log=log)
    if variants:
        real_simple, problems_simple, breakdown_simple = _real_jobs(conn, env, tmp, user, source, real_count, True,
                                                                    log)

    def row(name, base, subject, target=True, note=""):
        p50, p95 = percentile(subject, 50), percentile(subject, 95)
        ok = p50 < LATENCY_TARGET_MS
        return Row(name, f"raw BLPOP p50 {percentile(base, 50):.1f} ms" if base else "-",
                   f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (n={len(subject)})",
                   f"{p50 / percentile(base, 50):.0f}x" if base else "-",
                   f"p50 < {LATENCY_TARGET_MS:.0f} ms" if target else "-",
                   (verdict(ok and not note.startswith("PROBLEMS")) if target else "INFO"), note)

    def problem_note(breakdown_text: str, found: list[str]) -> str:
        return "; ".join([*(["PROBLEMS: " + "; ".join(found)] if found else []), breakdown_text])

    rows = [row("queue latency (forking worker)", raw, forked),
            row("queue latency (--simple worker)", raw_simple, simple, target=False),
            row(f"queue latency (real {BATCH_STYLE}, forking)", [], real, note=problem_note(breakdown, problems))]
    if variants:
        rows.append(row(f"queue latency (real {BATCH_STYLE}, --simple)", [], real_simple, target=False,
                        note=problem_note(breakdown_simple, problems_simple)))
    return rows


PRELOAD = ("workers.generators.classical", "app.generation.tasks", "app.generation.likeness")


def _throughput_rows(conn, env, tmp, user, source, batch, rounds, variants, log) -> list[Row]:
    configs = {"1": (1, ()), "2": (2, ()), **({"1 preloaded": (1, PRELOAD)} if variants else {})}
    results: dict[str, list[dict]] = {name: [] for name in configs}
    for i in range(1, rounds + 1):
        for name, (n_workers, preload) in configs.items():
            result = _drain(user, source, batch, n_workers, env, tmp, conn, preload)
            results[name].append(result)
            log(f"  throughput round {i}/{rounds}, {name} worker(s): {batch} {BATCH_STYLE} jobs in "
                f"{result['seconds']:.1f} s = {result['jobs_per_s']:.2f} jobs/s; worker CPU "
                f"{result['cpu_per_job_s']:.2f} s/job, {result['cores']:.2f} cores busy"
                f"{'; PROBLEMS ' + '; '.join(result['problems']) if result['problems'] else ''}")

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    one, two = median("1", "jobs_per_s"), median("2", "jobs_per_s")
    problems = [p for name in ("1", "2") for r in results[name] for p in r["problems"]]
    note = (f"cores busy: 1 worker {median('1', 'cores'):.2f}, 2 workers {median('2', 'cores'):.2f} of "
            f"{os.cpu_count()}; worker CPU per job {median('1', 'cpu_per_job_s'):.2f} s (1) and "
            f"{median('2', 'cpu_per_job_s'):.2f} s (2)") + ("; PROBLEMS: " + "; ".join(problems) if problems else "")
    rows = [Row(f"jobs/s, 2 workers vs 1 ({batch} {BATCH_STYLE})", f"1 worker {one:.2f} jobs/s",
                f"2 workers {two:.2f} jobs/s", f"{two / one:.2f}x", "> 1.00x", verdict(two > one and not problems),
                note)]
    if not variants:
        return rows
    pre = median("1 preloaded", "jobs_per_s")
    pre_problems = [p for r in results["1 preloaded"] for p in r["problems"]]
    rows.append(Row("jobs/s, 1 worker with the model stack imported before forking", f"1 worker {one:.2f} jobs/s, "
                f"{median('1', 'cpu_per_job_s'):.2f} s CPU/job", f"{pre:.2f} jobs/s, "
                f"{median('1 preloaded', 'cpu_per_job_s'):.2f} s CPU/job", f"{pre / one:.2f}x", "-",
                "FAIL" if pre_problems else "INFO",
                "a variant, not the deployed command: the worker imports " + ", ".join(PRELOAD) + " before it "
                "starts, so each work horse inherits them instead of importing them again"
                + ("; PROBLEMS: " + "; ".join(pre_problems) if pre_problems else "")))
    return rows
