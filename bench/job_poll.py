"""job_poll: the cost of ``GET /api/v1/jobs/<id>`` as the queue grows, against bare Flask in the same run.

Set-up: a private Redis (``bench.services.bench_redis``) and a fresh PostgreSQL database (required:
SKIP without one), migrated, ``policy init``; one user with a real login session and the service
terms accepted (over HTTP, as a phone does), and one queued job of theirs in RQ. The
``generation_jobs`` table is filled to ``--rows`` (1,000,000) rows with one ``INSERT … SELECT
generate_series`` (10 % of them queued and dispatched, the launch-day shape; the rest ended).

For each queue size in ``--sizes`` (10, 10,000, 100,000): RQ's ``generation`` list is refilled with
that many job ids and the polled job is put at its tail, with its sequence number
(``app/generation/positions.py``) to match, so its ``queue_position`` is size + 1 (checked). Then,
alternating, bare Flask (``bench.bare_app``) and the poll under the same gunicorn (``-w 2 -k sync``)
and load generator, ``--rounds`` × ``--duration`` s each: server CPU per request (/proc) for each, the
ratio; then ``--latency`` sequential requests on one keep-alive connection to each for p50/p99 (no
queueing: the per-request latency). Also the conditional poll (``If-None-Match`` with the current
ETag → 304) at the largest size, and the poll's floor (``bench/poll_floor_app.py``: what any poll of an
unchanged job must do, as a Flask route and as a bare WSGI callable) alternated with bare the same way.

Rows: poll CPU vs bare at each size (target ≤ 2×), flatness across sizes (largest vs smallest, target
within 20 %: the CPU and the p99, each as a ratio to bare's at the same size, so that the machine's own drift
between sizes is not read as the queue's; ``p99_flat_row``), p99 per size (INFO), and the polls per second
100,000 waiting users cause at a fixed 2 s and with ``next_poll_after_s`` (computed from the rule,
app/generation/polling.py: INFO, for the capacity plan), and the floor's two rows (INFO). Run alone:
``python -m bench.job_poll [--quick]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import BenchResult, Gunicorn, Target, alternate_rounds
from bench.loadgen import make_load_generator
from bench.report import Row, format_table, verdict, write_rows
from bench.services import app_env, bench_database, bench_redis, migrate, run_step

POLL_CPU_TARGET = 2.0  # × bare Flask
FLAT_TARGET = 0.20  # largest queue vs smallest
SEQ_KEY, OF_KEY, HEAD_KEY, GONE_KEY = ("generation:pos:seq", "generation:pos:of", "generation:pos:head",
                                       "generation:pos:gone")
RQ_LIST = "rq:queue:generation"


def add_queued_job(user_id: int):
    """Inside an app context: a queued, dispatched ``pop_art`` job row of ``user_id``, its RQ id made from its
    public id as the app makes it (flushed, not committed; ``fill_queue`` puts it in RQ's list). Written directly:
    paying and uploading for a real one is not what the poll benchmarks measure."""
    from app.core.db import utcnow
    from app.extensions import db
    from app.generation.models import GenerationJob, JobStatus, rq_job_id_for

    job = GenerationJob(user_id=user_id, style_id="pop_art", status=JobStatus.QUEUED, rq_job_id="pending",
                        dispatched_at=utcnow())
    db.session.add(job)
    db.session.flush()
    job.rq_job_id = rq_job_id_for(job.public_id)
    db.session.flush()
    return job


def setup_in_app() -> dict:
    """Inside the app's environment: the bench user, a login session and one queued job in RQ."""
    from app import create_app
    from app.accounts.models import User
    from app.accounts.sessions import start_session
    from app.extensions import db

    app = create_app()
    with app.app_context():
        user = User(nickname="bench")
        filler = User(nickname="bench-filler")
        db.session.add_all([user, filler])
        db.session.flush()
        _session, token = start_session(user, "wechat", None)
        job = add_queued_job(user.id)
        db.session.commit()
        return {"token": token, "job": job.public_id, "rq_job_id": job.rq_job_id, "filler_user": filler.id}


def fill_rows(database_url: str, filler_user: int, rows: int) -> float:
    """``rows`` job rows with one INSERT … SELECT generate_series (10 % queued+dispatched); seconds taken."""
    from sqlalchemy import create_engine, text

    started = time.monotonic()
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO generation_jobs (public_id, user_id, style_id, status, progress, rq_job_id, attempts,
                                         created_at, dispatched_at, started_at, finished_at)
            SELECT md5('fill' || i), :user, 'pop_art',
                   CASE WHEN i % 10 = 0 THEN 'queued' ELSE 'succeeded' END, 0, 'fill-' || i, 0,
                   now() - (i || ' seconds')::interval, now() - (i || ' seconds')::interval,
                   CASE WHEN i % 10 = 0 THEN NULL ELSE now() END, CASE WHEN i % 10 = 0 THEN NULL ELSE now() END
            FROM generate_series(1, :rows) AS i"""), {"user": filler_user, "rows": rows})
        conn.execute(text("ANALYZE generation_jobs"))
    engine.dispose()
    return time.monotonic() - started


def fill_queue(redis_url: str, size: int, rq_job_id: str) -> None:
    """RQ's list holds ``size`` other jobs, then ours; the sequence numbers say the same."""
    from redis import Redis

    conn = Redis.from_url(redis_url)
    conn.delete(RQ_LIST, SEQ_KEY, OF_KEY, HEAD_KEY, GONE_KEY)
    for start in range(0, size, 10_000):
        ids = [f"fill-{i}" for i in range(start + 1, min(size, start + 10_000) + 1)]
        pipe = conn.pipeline(transaction=False)
        pipe.rpush(RQ_LIST, *ids)
        pipe.hset(OF_KEY, mapping={rq_id: start + n + 1 for n, rq_id in enumerate(ids)})
        pipe.execute()
    conn.rpush(RQ_LIST, rq_job_id)
    conn.hset(OF_KEY, rq_job_id, size + 1)
    conn.set(SEQ_KEY, size + 1)
    conn.set(HEAD_KEY, 1)
    conn.close()


def latency_ms(targets: list[tuple[str, dict[str, str]]], count: int) -> list[tuple[float, float]]:
    """p50 and p99 (ms) of ``count`` sequential requests to each URL, one keep-alive connection each,
    interleaved (a, b, a, b, …) so that the machine's other tenants hit every target alike; the first
    tenth is a warm-up and not counted."""
    conns, samples = [], [[] for _ in targets]
    for url, _ in targets:
        parts = urlsplit(url)
        conns.append((http.client.HTTPConnection(parts.hostname, parts.port, timeout=10), parts.path))
    for n in range(count + count // 10):
        for i, ((conn, path), (url, headers)) in enumerate(zip(conns, targets, strict=True)):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status not in (200, 304):
                raise RuntimeError(f"{url}: status {response.status}")
            if n >= count // 10:
                samples[i].append((time.perf_counter() - started) * 1000)
    out = []
    for (conn, _), times in zip(conns, samples, strict=True):
        conn.close()
        times.sort()
        out.append((statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]))
    return out


def get(url: str, headers: dict[str, str]) -> tuple[int, dict, dict]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", parts.path, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), json.loads(raw) if raw else {}


def polls_per_second(users: int, workers: int, job_s: float) -> tuple[float, float]:
    """(fixed 2 s, next_poll_after_s) for ``users`` queued behind each other (places 1..users)."""
    try:
        from app.generation.polling import next_poll_after
    except ImportError:  # run against a tree from before next_poll_after_s (the "before" figures)
        return users / 2, float("nan")

    with_rule = 0.0
    for place in range(1, users + 1):
        wait = round(((place - 1) // workers + 1) * job_s)
        with_rule += 1 / next_poll_after("queued", wait)
    return users / 2, with_rule


def run(args: argparse.Namespace, log=print) -> list[Row]:
    rows: list[Row] = []
    load = make_load_generator(args.loadgen)
    load1, load5, _ = os.getloadavg()
    log(f"  load average at start {load1:.2f} (1 min) / {load5:.2f} (5 min); load generator {load.describe()}")
    with tempfile.TemporaryDirectory(prefix="miaohua-bench-poll-") as tmp_name:
        tmp = Path(tmp_name)
        with bench_redis(tmp) as (redis_url, redis_note), \
                bench_database(tmp, "job_poll", allow_sqlite=False) as (database_url, db_note):
            if database_url is None:
                return [Row("job poll", "-", "-", "-", "-", "SKIP", f"needs PostgreSQL: {db_note}")]
            log(f"  {redis_note}; {db_note}")
            env = app_env(tmp, database_url, redis_url)
            migrate(env)
            setup = json.loads(run_step(["-m", "bench.job_poll", "--setup"], env, "bench user").splitlines()[-1])
            log(f"  filled {args.rows:,} job rows in {fill_rows(database_url, setup['filler_user'], args.rows):.1f} s"
                " (generate_series)")
            headers = {"Authorization": f"Bearer {setup['token']}", "Accept": "application/json"}
            path = f"/api/v1/jobs/{setup['job']}"
            with Gunicorn("bare", "bench.bare_app:app", env, tmp) as bare, Gunicorn("app", "wsgi:app", env, tmp) as app:
                bare.wait_ready("/", headers)
                app.wait_ready("/api/v1/policy/current", headers, timeout_s=60)
                policy = get(app.base_url + "/api/v1/policy/current", headers)[2]["data"]
                conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
                conn.request("POST", "/api/v1/me/consents", headers={**headers, "Content-Type": "application/json"},
                             body=json.dumps({"policy_version": policy["id"], "purposes": ["service"]}))
                assert conn.getresponse().status == 204, "consent not given"
                conn.close()
                results = {}
                for size in args.sizes:
                    fill_queue(redis_url, size, setup["rq_job_id"])
                    app.wait_ready(path, headers)
                    _status, answer_headers, body = get(app.base_url + path, headers)
                    place = body["data"]["queue_position"]
                    if place != size + 1:
                        raise RuntimeError(f"queue_position {place}, expected {size + 1}: {body}")
                    next_poll, etag = body["data"].get("next_poll_after_s"), answer_headers.get("ETag", "-")
                    log(f"  queue {size:,}: position {place:,}, next_poll_after_s {next_poll}, ETag {etag}")
                    base_r, poll_r = alternate_rounds(
                        Target("bare", bare, "/", headers), Target("poll", app, path, headers), load,
                        rounds=args.rounds, duration_s=args.duration, warmup_s=1.0, log=lambda s: log(f"  {s}"))
                    result = BenchResult(f"poll {size}", "", 0, base_r, poll_r)
                    lat_bare, lat_poll = latency_ms([(bare.base_url + "/", headers), (app.base_url + path, headers)],
                                                    args.latency)
                    results[size] = (result, lat_bare, lat_poll)
                    log(f"  queue {size:,}: CPU/req bare {result.cpu_median(base_r):.0f} us, poll "
                        f"{result.cpu_median(poll_r):.0f} us; p50/p99 bare {lat_bare[0]:.2f}/{lat_bare[1]:.2f} ms, "
                        f"poll {lat_poll[0]:.2f}/{lat_poll[1]:.2f} ms")
                largest = max(args.sizes)
                etag = answer_headers.get("ETag")
                cond = None
                if etag:  # sequential (the load generator counts 200s only), CPU from /proc around it
                    cond = {}
                    for label, server, url, hdrs in (("bare", bare, bare.base_url + "/", headers),
                                                     ("304", app, app.base_url + path,
                                                      {**headers, "If-None-Match": etag})):
                        before = server.cpu_seconds()
                        [lat] = latency_ms([(url, hdrs)], args.latency)
                        requests = args.latency + args.latency // 10
                        cond[label] = ((server.cpu_seconds() - before) / requests * 1e6, lat)
                    log(f"  304: CPU/req bare {cond['bare'][0]:.0f} us, 304 {cond['304'][0]:.0f} us; p99 "
                        f"{cond['bare'][1][1]:.2f} / {cond['304'][1][1]:.2f} ms (sequential)")
                floor = measure_floor(tmp, env, redis_url, bare, path, headers, load, args, log)
        for size, (result, lat_bare, lat_poll) in results.items():
            cpu_b, cpu_p = result.cpu_median(result.baseline), result.cpu_median(result.subject)
            ratio = cpu_p / cpu_b if cpu_b and cpu_p else float("nan")
            rows.append(Row(f"job poll CPU, {size:,} queued, {args.rows:,} rows", f"bare {cpu_b:.0f} us/req",
                            f"poll {cpu_p:.0f} us/req", f"{ratio:.2f}x", f"<= {POLL_CPU_TARGET:g}x",
                            verdict(ratio <= POLL_CPU_TARGET and not result.errors),
                            f"{result.subject_median:.0f} vs {result.baseline_median:.0f} req/s"
                            + (f"; errors {result.errors}" if result.errors else "")))
            rows.append(Row(f"job poll p99, {size:,} queued", f"bare {lat_bare[1]:.2f} ms",
                            f"poll {lat_poll[1]:.2f} ms",
                            f"{lat_poll[1] / lat_bare[1]:.2f}x", "-", "INFO",
                            f"p50 {lat_bare[0]:.2f} / {lat_poll[0]:.2f} ms; {args.latency} sequential requests "
                            "each, interleaved"))
        smallest = min(args.sizes)

        def ratio_at(size):
            result = results[size][0]
            return result.cpu_median(result.subject) / result.cpu_median(result.baseline)

        drift = ratio_at(largest) / ratio_at(smallest) - 1
        rows.append(Row(f"job poll flat: {largest:,} vs {smallest:,} queued", f"{ratio_at(smallest):.2f}x bare",
                        f"{ratio_at(largest):.2f}x bare", f"{drift:+.0%}", f"within {FLAT_TARGET:.0%}",
                        verdict(abs(drift) <= FLAT_TARGET), "CPU/req ratios to bare in the same run"))
        rows.append(p99_flat_row(smallest, largest, results[smallest][1:], results[largest][1:]))
        if cond:
            (cpu_b, _), (cpu_c, lat_c) = cond["bare"], cond["304"]
            rows.append(Row(f"job poll 304 (If-None-Match), {largest:,} queued", f"bare {cpu_b:.0f} us/req",
                            f"304 {cpu_c:.0f} us/req", f"{cpu_c / cpu_b:.2f}x", f"<= {POLL_CPU_TARGET:g}x",
                            verdict(cpu_c / cpu_b <= POLL_CPU_TARGET),
                            f"sequential, one connection; p99 {lat_c[1]:.2f} ms"))
        rows.extend(floor_rows(floor, ratio_at(smallest)))
    for workers, job_s in ((8, 20.0), (32, 20.0)):
        fixed, ruled = polls_per_second(100_000, workers, job_s)
        rows.append(Row(f"polls/s, 100,000 waiting ({workers} workers, {job_s:g} s jobs)", f"every 2 s: {fixed:,.0f}/s",
                        f"next_poll_after_s: {ruled:,.0f}/s", f"{ruled / fixed:.1%}", "-", "INFO",
                        "computed from the rule (app/generation/polling.py), places 1..100,000"))
    return rows


FLOORS = (("Flask route", "bench.poll_floor_app:flask_app"), ("WSGI callable", "bench.poll_floor_app:wsgi_app"))


def measure_floor(tmp: Path, env: dict[str, str], redis_url: str, bare: Gunicorn, path: str,
                  headers: dict[str, str], load, args: argparse.Namespace, log) -> dict[str, tuple[float, float]]:
    """The poll's floor (``bench/poll_floor_app.py``) served as a Flask route and as a WSGI callable, each under
    the same gunicorn, alternated with bare Flask like the poll: {label: (bare CPU/req, floor CPU/req)} in us."""
    from bench import poll_floor_app

    poll_floor_app.seed(redis_url)
    out = {}
    for label, spec in FLOORS:
        with Gunicorn("floor-" + label.split()[0].lower(), spec, env, tmp) as server:
            server.wait_ready(path, headers)
            base_r, floor_r = alternate_rounds(
                Target("bare", bare, "/", headers), Target(f"floor ({label})", server, path, headers), load,
                rounds=args.rounds, duration_s=args.duration, warmup_s=1.0, log=lambda s: log(f"  {s}"))
        out[label] = (BenchResult.cpu_median(base_r), BenchResult.cpu_median(floor_r))
    return out


def floor_rows(floor: dict[str, tuple[float, float]], poll_ratio: float) -> list[Row]:
    """INFO rows: the floor's CPU against bare's, with the poll's own ratio (smallest queue) beside it."""
    return [Row(f"job poll floor: {label} with the poll's minimum", f"bare {cpu_b:.0f} us/req",
                f"floor {cpu_f:.0f} us/req", f"{cpu_f / cpu_b:.2f}x", "-", "INFO",
                f"bench/poll_floor_app.py: bearer hash, one Redis round trip, ETag, the poll's 11 headers; "
                f"the poll itself {poll_ratio:.2f}x")
            for label, (cpu_b, cpu_f) in floor.items()]


def p99_flat_row(smallest: int, largest: int, at_smallest: tuple, at_largest: tuple) -> Row:
    """Whether the poll's p99 stays flat from the smallest queue to the largest. Each argument is (bare's
    (p50, p99), the poll's (p50, p99)) from the same interleaved sequence; the verdict is on the poll's p99 as a
    ratio to bare's at each size, as the CPU row is: over the minutes between two sizes, this shared machine's
    own tail moves by more than 20 % (bare's p99 rose 39 % between two sizes on 2026-12-08), which is not the
    queue. The absolute p99s are shown beside it."""
    (bare_s, poll_s), (bare_l, poll_l) = at_smallest, at_largest
    ratio_s, ratio_l = poll_s[1] / bare_s[1], poll_l[1] / bare_l[1]
    drift = ratio_l / ratio_s - 1
    return Row(f"job poll p99 flat: {largest:,} vs {smallest:,}", f"{poll_s[1]:.2f} ms ({ratio_s:.2f}x bare)",
               f"{poll_l[1]:.2f} ms ({ratio_l:.2f}x bare)", f"{drift:+.0%}", f"within {FLAT_TARGET:.0%}",
               verdict(abs(drift) <= FLAT_TARGET),
               f"p99 ratios to bare's in the same interleaved sequence (absolute {poll_l[1] / poll_s[1] - 1:+.0%}, "
               f"bare's own {bare_l[1] / bare_s[1] - 1:+.0%}); sequential, one connection")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.job_poll", description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="2 rounds x 2 s, 300 latency requests")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 10_000, 100_000])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--latency", type=int, default=2000)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--rows-json")
    args = parser.parse_args(argv)
    if args.setup:
        print(json.dumps(setup_in_app()))
        return 0
    if args.quick:
        args.rounds, args.duration, args.latency = 2, 2.0, 300
    rows = run(args)
    print(format_table(rows))
    if args.rows_json:
        write_rows(args.rows_json, rows)
    return 1 if any(r.failed for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
