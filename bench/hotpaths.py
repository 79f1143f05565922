"""Hot paths (issue #20): what each request kind costs the server, against bare Flask, and why.

    .venv/bin/python -m bench.hotpaths [--requests 60] [--rounds 3] [--only KIND] [--profile]

Served by gunicorn (``bench.harness.Gunicorn``: ``-w 2 -k sync`` or ``BENCH_GUNICORN_ARGS``) on PostgreSQL (a
scratch database; SQLite when none answers) and a private Redis, with the WeChat sandbox served from a thread
of this process (the app calls it over HTTP, as it calls WeChat); requests sent one at a time from here:

- ``me``: ``GET /api/v1/me`` with a bearer token;
- ``poll`` / ``poll_304``: ``GET /api/v1/jobs/<id>`` of the phone's queued job (10 jobs ahead of it in RQ's list;
  its row written here, as ``bench.job_poll`` does), plain / with its ETag as ``If-None-Match``. The verdict on
  the poll's target is ``bench.job_poll``'s (under load, at three queue lengths); these rows say where its CPU
  goes (INFO);
- ``login``: ``POST /api/v1/auth/wechat`` with a fresh ``wx.login`` code (jscode2session at the sandbox);
- ``order``: ``POST /api/v1/orders`` with an ``Idempotency-Key``, as the mini-program sends it (a video
  credit; the Pay JSAPI prepay at the sandbox, RSA-signed, its answer's signature verified);
- ``notify``: ``POST /api/v1/payments/wechat/notify``, a verified ``TRANSACTION.SUCCESS`` for an order
  made (untimed) beforehand (signature, decryption, pay + fulfil + entitlement, commit, shipping doorbell);
- ``upload``: ``POST /api/v1/uploads``, the load test's 1024 px portrait (the per-user upload limits are
  raised so that one phone can send them all; they are still checked on each). The content check it starts
  makes WeChat send the app two requests of its own (download the photo, push the verdict): the sandbox holds
  them during the timed uploads and sends them after, timed apart (a row of its own, INFO). Until
  2026-12-06 they ran while uploads were timed, and were counted in the upload's CPU (most of them).

Measure: **server CPU per request** (gunicorn master + workers, ``/proc``), medians over rounds that
alternate with the baseline, bare Flask ``jsonify`` (``bench/bare_app.py``) under the same gunicorn.
The upload is compared with its own image work alone in a process of its own, same environment (decode +
normalise + re-encode, face check, encryption: the calls the upload makes; CPU of every thread of that
process, as the face model has its own).
Where the time goes: the same requests once more through the WSGI test client in this process under
cProfile with a CPU clock (self time grouped by library: the shares, inflated for Python-heavy code by
the profiler's own cost), and the SQL statements per request (a ``before_cursor_execute`` listener).
Targets (issue #20): /me >= 65 % of bare; login <= 10x; order <= 12x; notification <= 4x; upload <= 1.3x
its image work; the poll <= 2x (judged by ``bench.job_poll``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from bench.harness import GUNICORN_ARGS, cpu_count, cpu_model, free_port
from bench.report import Row, format_table, verdict, write_rows

# Targets of issue #20: subject CPU per request / bare Flask CPU per request (upload: / its image work).
TARGETS = {"me": 1 / 0.65, "login": 10.0, "order": 12.0, "notify": 4.0, "upload": 1.3, "poll": 2.0,
           "poll_304": 2.0}
KINDS = ("me", "poll", "poll_304", "login", "order", "notify", "upload")
CHEAP = ("me", "poll", "poll_304")  # under 1 ms each: 10x the requests, for enough 10 ms CPU ticks

# Where the time goes: self time grouped by the file's library (first match wins).
GROUPS = (
    ("image (Pillow, numpy, mediapipe)", ("PIL/", "numpy/", "mediapipe", "cv2")),
    ("crypto (cryptography, hashlib)", ("cryptography/", "hashlib", "_hashlib", "hmac")),
    ("SQL (SQLAlchemy, psycopg, sqlite)", ("sqlalchemy/", "psycopg", "sqlite3", "alembic")),
    ("Redis client", ("redis/",)),
    ("HTTP to WeChat (requests, urllib3, http.client, ssl)", ("requests/", "urllib3/", "http/client", "ssl.py")),
    ("sockets (kernel round trips)", ("socket", "selectors", "<method 'recv", "<method 'send", "<method 'connect")),
    ("pydantic", ("pydantic",)),
    ("JSON", ("json/", "orjson")),
    ("logging", ("logging/",)),
    ("Flask, Werkzeug, flask-login", ("flask/", "werkzeug/", "flask_login/", "flask_sqlalchemy/", "jinja2/")),
    ("our app", ("/app/",)),
)


def group_of(filename: str, funcname: str) -> str:
    where = f"{filename} {funcname}"
    for name, needles in GROUPS:
        if any(n in where for n in needles):
            return name
    return "other (stdlib, test client)"


def breakdown(profile: cProfile.Profile, requests: int) -> dict[str, float]:
    """Self time per group, in ms per request."""
    stats = pstats.Stats(profile)
    totals: Counter = Counter()
    for (filename, _line, funcname), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        totals[group_of(filename, funcname)] += tottime
    return {k: v * 1e3 / requests for k, v in totals.most_common()}


def top_functions(profile: cProfile.Profile, n: int = 40) -> None:
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(n)
    stats.sort_stats("tottime").print_stats(n)


class SqlCounter:
    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.count = 0
        self.statements: Counter = Counter()
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.count += 1
        self.statements[" ".join(statement.split())[:110]] += 1


def cpu_profile(fn: Callable[[], None], n: int) -> cProfile.Profile:
    """``fn`` called ``n`` times under cProfile with this thread's CPU clock (not the waits on PostgreSQL)."""
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    for _ in range(n):
        fn()
    profile.disable()
    return profile


def cpu_per_call(fn: Callable[[], None], n: int, clock: Callable[[], float] = time.thread_time) -> float:
    """CPU per call of ``fn``: this thread's (``thread_time``), or with ``process_time`` every thread of this
    process (the face model runs threads of its own; the sandbox's thread is idle meanwhile)."""
    started = clock()
    for _ in range(n):
        fn()
    return (clock() - started) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpaths", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60, help="requests per round and kind (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--only", action="append", choices=KINDS, help="only these kinds (repeatable)")
    parser.add_argument("--profile", action="store_true", help="also print each kind's top functions (cumulative)")
    parser.add_argument("--rows-json", help=argparse.SUPPRESS)
    parser.add_argument("--image-work", type=int, help=argparse.SUPPRESS)  # the child of image_work_alone
    args = parser.parse_args(argv)
    if args.image_work:
        image_work_main(args.image_work)
        return 0
    load1, load5, _ = os.getloadavg()
    print(f"machine: {cpu_count()} cores ({cpu_model()}), load {load1:.2f}/{load5:.2f} (1/5 min) at start; "
          f"gunicorn {' '.join(GUNICORN_ARGS)}, {args.rounds} rounds x {args.requests} requests per kind "
          f"({', '.join(CHEAP)} and bare x10)", flush=True)
    with tempfile.TemporaryDirectory(prefix="miaohua-bench-hot-") as tmp_name, ExitStack() as stack:
        rows = run(Path(tmp_name), stack, args)
    print(format_table(rows))
    if args.rows_json:
        write_rows(args.rows_json, rows)
    return 1 if any(r.failed for r in rows) else 0


def run(tmp: Path, stack: ExitStack, args: argparse.Namespace) -> list[Row]:
    from bench.services import app_env, bench_database, bench_redis, migrate

    database_url, db_note = stack.enter_context(bench_database(tmp, "hotpaths", allow_sqlite=True))
    redis_url, redis_note = stack.enter_context(bench_redis(tmp))
    keys_dir = tmp / "wechat_sandbox_pay"
    os.environ.update(MIAOHUA_ENV="development", MIAOHUA_INSTANCE_DIR=str(tmp / "instance"), LOG_LEVEL="WARNING")
    from bench import load_setup
    from devkit.wechat_sandbox.pay import dev_credentials

    dev_credentials(keys_dir)
    port = free_port()
    sandbox = stack.enter_context(load_setup.InProcessSandbox(keys_dir))
    env = app_env(tmp, database_url, redis_url, WECHAT_API_BASE_URL=sandbox.base_url,
                  WECHAT_PAY_BASE_URL=sandbox.base_url, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
                  TRUSTED_PROXIES="1", WECHAT_SANDBOX_PAY_KEYS_DIR=str(keys_dir),
                  # one phone uploads them all here: the limit is still checked on each, it just never trips
                  RATE_LIMIT_UPLOADS_PER_USER="100000/minute,1000000/day", UPLOAD_MAX_UNCLAIMED_PER_USER="100000")
    print(f"  database: {db_note}; Redis: {redis_note}; WeChat sandbox {sandbox.base_url} (a thread here)", flush=True)
    migrate(env)
    os.environ.update(env)

    from app import create_app
    from app.extensions import db
    from bench.generation import sample_sources
    from bench.harness import Gunicorn

    [jpeg] = sample_sources(1)
    upload_body = load_setup.multipart_upload(jpeg)
    bare_server = stack.enter_context(Gunicorn("bare", "bench.bare_app:app", env, tmp))
    app_server = Gunicorn("app", "wsgi:app", env, tmp)
    app_server.port = port
    stack.enter_context(app_server)
    bare_server.wait_ready("/", {})
    app_server.wait_ready("/readyz", {})
    sandbox.set_push_url(f"{app_server.base_url}/api/v1/wechat/push")
    http_app, http_bare = HttpClient(app_server.base_url), HttpClient(bare_server.base_url)
    app = create_app()  # in this process too: the profile, the SQL count and the image work alone
    test_client = app.test_client()
    with app.app_context():
        sql = SqlCounter(db.engine)
    actors = Actors(app, http_app, sandbox, upload_body, jpeg)
    actors.setup()
    if {"poll", "poll_304"} & set(args.only or KINDS):
        actors.queue_job(redis_url)

    def bare_call() -> None:
        response = http_bare.get("/")
        assert response.status_code == 200

    def server_cpu(server, fn: Callable[[], None], n: int) -> float:
        before = server.cpu_seconds()
        for _ in range(n):
            fn()
        return (server.cpu_seconds() - before) / n

    kinds = args.only or list(KINDS)
    results: dict[str, list[float]] = {k: [] for k in kinds}
    base: list[float] = []
    image_alone: list[float] = []
    content_checks: list[float] = []  # per upload: WeChat's download of the photo + its verdict push
    with sandbox.media_checks_held() as held:
        for _ in range(4):  # warm-up, both workers: imports, pools, face model, keys
            for kind in kinds:
                actors.call(kind)
            bare_call()
            if "upload" in kinds:  # two at once, so that each worker takes one (sequential ones may all
                with ThreadPoolExecutor(2) as pool:  # go to one worker, the other paying its imports later)
                    list(pool.map(lambda _: actors.upload(), range(2)))
        sandbox.run_held(held)
        for _ in range(args.rounds):
            base.append(server_cpu(bare_server, bare_call, args.requests * 10))  # ~0.5 ms each: enough 10 ms ticks
            for kind in kinds:
                actors.prepare(kind, args.requests)
                n = args.requests * (10 if kind in CHEAP else 1)
                results[kind].append(server_cpu(app_server, lambda k=kind: actors.call(k), n))
                if kind == "upload":  # the two requests WeChat's check sends per upload, timed apart
                    before = app_server.cpu_seconds()
                    checked = sandbox.run_held(held)
                    content_checks.append((app_server.cpu_seconds() - before) / max(checked, 1))
        if "upload" in kinds:
            image_alone.append(image_work_alone(env, max(args.requests // 4, 5)))
    bare_cpu = statistics.median(base)
    print(f"  bare Flask: {bare_cpu * 1e6:.0f} us server CPU/request (rounds {[f'{b * 1e6:.0f}' for b in base]})")

    actors.client = test_client  # the profile: the same requests through the WSGI test client, in this process
    bare_parts = bare_profile(max(args.requests // 2, 10) * 10)  # the baseline's, the same way
    rows = []
    for kind in kinds:
        cpu = statistics.median(results[kind])
        actors.call(kind)
        n = max(args.requests // 2, 10)
        actors.prepare(kind, n)
        sql.count = 0  # after prepare(): its orders are not the notifications' statements
        sql.statements.clear()
        with sandbox.media_checks_held() as held:  # the uploads' checks: after the profile, not in its CPU
            profile = cpu_profile(lambda k=kind: actors.call(k), n)
            sandbox.run_held(held)
        parts = breakdown(profile, n)
        per_sql = sql.count / n
        rounds = [f"{r * 1e3:.2f}" for r in results[kind]]
        print(f"\n  {kind}: {cpu * 1e3:.2f} ms server CPU/request (rounds {rounds}), "
              f"{per_sql:.1f} SQL statements/request; in-process profile (CPU, self time, with cProfile's overhead; "
              "and above bare Flask's through its own test client):")
        for name, ms in parts.items():
            if ms >= 0.005:
                print(f"    {name:<55} {ms:7.3f} ms  {ms - bare_parts.get(name, 0.0):+7.3f} ms")
        for statement, count in sql.statements.most_common(12):
            print(f"    SQL x{count / n:4.1f}  {statement}")
        if args.profile:
            top_functions(profile)
        total = sum(parts.values()) or 1.0
        top = ", ".join(f"{name.split(' (')[0]} {ms / total:.0%}" for name, ms in list(parts.items())[:4])
        note = f"{per_sql:.1f} SQL/req; CPU profile shares: {top}"
        if kind == "upload":
            alone = statistics.median(image_alone)
            ratio = cpu / alone
            rows.append(Row("hotpaths: upload vs its image work", f"image work {alone * 1e3:.1f} ms CPU",
                            f"upload {cpu * 1e3:.1f} ms CPU", f"{ratio:.2f}x", f"<= {TARGETS[kind]:g}x",
                            verdict(ratio <= TARGETS[kind]), note + f"; bare Flask {bare_cpu * 1e6:.0f} us"))
            check = statistics.median(content_checks)
            rows.append(Row("hotpaths: WeChat's content check of an upload", f"image work {alone * 1e3:.1f} ms CPU",
                            f"download + verdict push {check * 1e3:.1f} ms CPU", f"{check / alone:.2f}x", "-",
                            "INFO", f"2 requests WeChat sends per upload (rounds "
                                    f"{[f'{c * 1e3:.1f}' for c in content_checks]} ms); not in the upload's row"))
            continue
        ratio = cpu / bare_cpu
        if kind == "me":
            share = bare_cpu / cpu
            rows.append(Row("hotpaths: GET /me (server CPU)", f"bare {bare_cpu * 1e6:.0f} us CPU",
                            f"/me {cpu * 1e6:.0f} us CPU", f"{share:.1%}", ">= 65%", verdict(share >= 0.65), note))
        elif kind in ("poll", "poll_304"):
            label = "job poll" if kind == "poll" else "job poll 304 (If-None-Match)"
            rows.append(Row(f"hotpaths: {label} (server CPU)", f"bare {bare_cpu * 1e6:.0f} us CPU",
                            f"{cpu * 1e6:.0f} us CPU", f"{ratio:.2f}x", f"<= {TARGETS[kind]:g}x", "INFO",
                            note + "; verdict: bench.job_poll"))
        else:
            label = {"login": "WeChat login", "order": "order + prepay", "notify": "payment notification"}[kind]
            rows.append(Row(f"hotpaths: {label} (server CPU)", f"bare {bare_cpu * 1e6:.0f} us CPU",
                            f"{cpu * 1e3:.2f} ms CPU", f"{ratio:.1f}x", f"<= {TARGETS[kind]:g}x",
                            verdict(ratio <= TARGETS[kind]), note))
    print()
    return rows


def bare_profile(n: int) -> dict[str, float]:
    """The baseline's in-process profile, grouped as the kinds' are (bare Flask through its own test client): what
    a kind spends above it in each group is what its own work adds there (the test client's share cancels)."""
    from bench.bare_app import app as bare_app

    client = bare_app.test_client()
    client.get("/")
    parts = breakdown(cpu_profile(lambda: client.get("/"), n), n)
    total = sum(parts.values())
    print(f"\n  bare Flask, in-process profile (CPU, self time, with cProfile's overhead), {total:.3f} ms:")
    for name, ms in parts.items():
        if ms >= 0.005:
            print(f"    {name:<55} {ms:7.3f} ms")
    return parts


def image_work_alone(env: dict[str, str], n: int) -> float:
    """CPU per call of the upload's image work in a process of its own (``--image-work N``): every thread of
    that process counts (the face model runs its own), and nothing else runs there (in this process the
    sandbox's threads serve the content checks meanwhile)."""
    import subprocess

    out = subprocess.run([sys.executable, "-m", "bench.hotpaths", "--image-work", str(n)], env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def image_work_main(n: int) -> None:
    """``--image-work N``: the sample upload's image work, warmed once, then N times; prints CPU s per call."""
    from app import create_app
    from bench.generation import sample_sources

    app = create_app()
    [jpeg] = sample_sources(1)
    actors = Actors(app, None, None, b"", jpeg)
    actors.image_work()
    print(cpu_per_call(actors.image_work, n, time.process_time))


class HttpResponse:
    def __init__(self, method: str, path: str, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status_code, self._body, self.headers = status, body, headers
        self.request = type("Request", (), {"method": method, "path": path})()

    def get_data(self) -> bytes:
        return self._body

    def get_json(self, silent: bool = False):
        import json

        try:
            return json.loads(self._body)
        except ValueError:
            if silent:
                return None
            raise


class HttpClient:
    """The test client's ``get``/``post`` over real HTTP (a fresh connection each: gunicorn's sync
    workers close every one)."""

    def __init__(self, base_url: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port

    def open(self, method: str, path: str, headers: dict | None = None, json=None, data: bytes | None = None):
        import http.client
        import json as jsonlib

        headers = dict(headers or {})
        if json is not None:
            data = jsonlib.dumps(json).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return HttpResponse(method, path, response.status, response.read(), dict(response.getheaders()))
        finally:
            conn.close()

    def get(self, path: str, **kwargs):
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.open("POST", path, **kwargs)


class Actors:
    """The requests, each real: fresh login codes, fresh orders paid at the sandbox, fresh uploads."""

    def __init__(self, app, client, sandbox, upload_body: bytes, jpeg: bytes) -> None:
        self.app, self.client, self.sandbox, self.upload_body, self._jpeg = app, client, sandbox, upload_body, jpeg
        self.n = 0
        self.orders_sent = 0
        self.pending_notifications: list[tuple[dict, bytes]] = []

    def _ip(self) -> str:
        from bench.load_setup import forwarded_for

        self.n += 1
        return forwarded_for(300_000 + self.n)

    def setup(self) -> None:
        from bench.load_setup import UPLOAD_BOUNDARY, device

        name = "bench-hot-phone"
        self.sandbox.add_user(name, phone="13900000001")
        self.ip = self._ip()
        answer = self._expect(self.client.post("/api/v1/auth/wechat", headers={"X-Forwarded-For": self.ip},
                                               json={"code": self.sandbox.login_code(name),
                                                     "device": device("bench-hot-device")}), 200)
        self.token = answer["data"]["token"]
        self.auth = {"Authorization": f"Bearer {self.token}", "X-Forwarded-For": self.ip}
        self._expect(self.client.post("/api/v1/me/phone/wechat", headers=self.auth,
                                      json={"code": self.sandbox.phone_code(name)}), 200)
        version = self._expect(self.client.get("/api/v1/policy/current"), 200)["data"]["id"]
        self._expect(self.client.post("/api/v1/me/consents", headers=self.auth,
                                      json={"policy_version": version, "purposes": ["service", "face_processing"]}),
                     204)
        self._expect(self.client.post("/api/v1/me/age", headers=self.auth, json={"adult_confirmed": True}), 200)
        self.upload_headers = {**self.auth, "Content-Type": f"multipart/form-data; boundary={UPLOAD_BOUNDARY}"}
        self.login_users = []
        for i in range(20):
            user = f"bench-hot-l{i}"
            self.sandbox.add_user(user, phone=f"137{i:08d}")
            self.login_users.append(user)
        self.pay = self.sandbox.app.extensions["wechat_sandbox_pay"]

    @staticmethod
    def _expect(response, status: int) -> dict:
        if response.status_code != status:
            raise RuntimeError(f"{response.request.method} {response.request.path}: {response.status_code} "
                               f"{response.get_data()[:300]!r}")
        return response.get_json(silent=True) or {}

    def prepare(self, kind: str, n: int) -> None:
        """Before timing ``notify``: n orders made and paid at the sandbox (their making is not the cost)."""
        if kind == "notify":
            while len(self.pending_notifications) < n:
                self.pending_notifications.append(self._notification(self.order()))

    def call(self, kind: str) -> None:
        getattr(self, kind)()

    def me(self) -> None:
        self._expect(self.client.get("/api/v1/me", headers=self.auth), 200)

    def queue_job(self, redis_url: str) -> None:
        """A queued generation job of this phone's, 10 jobs ahead of it in RQ's list (its row written here, as
        ``bench.job_poll`` writes its own: paying for and uploading a real one is not what is measured), and
        the ETag of its answer."""
        from app.accounts.models import User
        from app.extensions import db
        from bench.job_poll import add_queued_job, fill_queue

        public_id = self._expect(self.client.get("/api/v1/me", headers=self.auth), 200)["data"]["id"]
        with self.app.app_context():
            user = db.session.execute(db.select(User).filter_by(public_id=public_id)).scalar_one()
            job = add_queued_job(user.id)
            self.job_path = f"/api/v1/jobs/{job.public_id}"
            rq_job_id = job.rq_job_id
            db.session.commit()
        fill_queue(redis_url, 10, rq_job_id)
        answer = self.client.get(self.job_path, headers=self.auth)
        place = self._expect(answer, 200)["data"]["queue_position"]
        if place != 11:
            raise RuntimeError(f"{self.job_path}: queue_position {place}, expected 11")
        self.job_etag = answer.headers["ETag"]

    def poll(self) -> None:
        self._expect(self.client.get(self.job_path, headers=self.auth), 200)

    def poll_304(self) -> None:
        response = self.client.get(self.job_path, headers={**self.auth, "If-None-Match": self.job_etag})
        if response.status_code != 304:
            raise RuntimeError(f"{self.job_path} with its ETag: {response.status_code} {response.get_data()[:300]!r}")

    def login(self) -> None:
        from bench.load_setup import device

        user = self.login_users[self.n % len(self.login_users)]
        ip = self._ip()
        self._expect(self.client.post("/api/v1/auth/wechat", headers={"X-Forwarded-For": ip},
                                      json={"code": self.sandbox.login_code(user), "device": device(f"d-{ip}")}), 200)

    def order(self) -> str:
        """One order (left unpaid: paying it at the sandbox would have the sandbox deliver its notification to
        the server meanwhile, counted in this row); its number."""
        self.orders_sent += 1  # a fresh Idempotency-Key per order, as the mini-program sends (a retry reuses it)
        headers = {**self.auth, "Idempotency-Key": f"bench-order-{self.orders_sent}"}
        answer = self._expect(self.client.post("/api/v1/orders", headers=headers, json={"product": "video_generation"}),
                              201)
        return answer["data"]["order"]["order_no"]

    def _notification(self, out_trade_no: str) -> tuple[dict, bytes]:
        """The order paid at the sandbox, and its TRANSACTION.SUCCESS signed for ``notify`` to send. Not delivered
        by the sandbox itself (no notify URL on the transaction): else the timed requests would be duplicates of
        notifications the server already applied, and the fulfilment would land in whatever row runs meanwhile."""
        transaction = self.pay.find_order(out_trade_no=out_trade_no)
        transaction.notify_url = ""
        delivery = self.pay.pay(transaction, "SUCCESS", "OTHERS", by_prepay_id=False)
        headers = {"Content-Type": "application/json", **self.pay.signed_headers(delivery.body)}
        return headers, delivery.body.encode()

    def notify(self) -> None:
        if not self.pending_notifications:
            self.prepare("notify", 1)  # not reached while timed: prepare() made them
        headers, body = self.pending_notifications.pop()
        response = self.client.post("/api/v1/payments/wechat/notify", headers=headers, data=body)
        if response.status_code != 204:
            raise RuntimeError(f"notify: {response.status_code} {response.get_data()[:300]!r}")

    def upload(self) -> None:
        self._expect(self.client.post("/api/v1/uploads", headers=self.upload_headers, data=self.upload_body), 201)

    def image_work(self) -> None:
        """What the upload does to the image, alone: decode, normalise + re-encode, face check, encrypt."""
        from app.core import vault
        from app.uploads import images
        from app.uploads.faces import check_face

        with self.app.app_context():
            image = images.normalise(self._jpeg, max_pixels=self.app.config["UPLOAD_MAX_PIXELS"],
                                     min_side=self.app.config["UPLOAD_MIN_SIDE"])
            check_face(image.analysis)
            vault.seal("bench-object", image.jpeg)


if __name__ == "__main__":
    sys.exit(main())
