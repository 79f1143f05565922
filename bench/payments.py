"""Payment notifications benchmark (issue: orders).

    .venv/bin/python -m bench.payments [--orders 500] [--rounds 3] [--clients 4] [--workers 2]

Subject: verified ``TRANSACTION.SUCCESS`` notifications processed per second over HTTP by
``gunicorn -w 2 -k sync wsgi:app`` (``POST /api/v1/payments/wechat/notify``: signature over the raw
body, AES-GCM decryption, the processed-notification row, order checks, pay + fulfil + one entitlement
+ the order's events, commit, and the shipping doorbell after commit: see ``app/orders/notifications.py``
and ``app/orders/shipping.py``). Target: ≥ 100 notifications/s on this machine, every answer 204, every
order ``fulfilled`` with exactly one entitlement, its three events (created, paid, fulfilled), its
notification id recorded once, and a shipping sweep waiting in the ``default`` queue (no worker runs
here, so it stays there and covers every order of the run).

Baseline, same run: ``app.orders.wechatpay.verify_notification(headers, body)`` alone (signature
verification + decryption) in a loop in this process, on one core. The HTTP rate is also shown per
worker process, so the two compare like for like: the ratio is the share of a worker's time that
verification + decryption would account for. Also printed: server and client CPU per notification
(``/proc``) and what a ``verify_notification`` call is made of.

Set-up, all here: a temporary instance directory and the database of ``bench.services.bench_database``
(``BENCH_DATABASE_URL`` as given, a disposable database; else a fresh PostgreSQL database, dropped at the end, as
production runs on PostgreSQL and its notification path is a statement of its own there; else a SQLite file),
``MIAOHUA_ENV=development``,
``LOG_LEVEL=WARNING``, the sandbox's development merchant keys (``dev_credentials(<temp keys dir>)``)
exported as the app's ``WECHAT_PAY_*`` variables, ``flask db upgrade`` and ``flask policy init``, then N
users with WeChat identities. Redis: ``BENCH_REDIS_URL``, else a private ``redis-server`` on a free port
when one is on PATH (without Redis every fulfilment's shipping doorbell fails, retries its connection
and logs an ERROR, which is then most of what gets measured). Each round makes N fresh orders (state ``created``)
through the app's models, has the WeChat sandbox's own Pay emulation (``PayState``: its order book, its
``pay``, its notifier and its ``signed_headers``, over the same keys directory) pay them, and so gets N
notifications signed and encrypted exactly as the sandbox sends them; they are then POSTed by a few
client threads and the database is checked. Each round runs the baseline then the subject; results are
medians over the rounds. Exit 0 when both rows PASS.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import queue
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import cpu_count, cpu_model
from bench.services import PrivateRedis, bench_database, migrate

ROOT = Path(__file__).resolve().parent.parent
NOTIFY_PATH = "/api/v1/payments/wechat/notify"
WORKERS = 2
TARGET_PER_S = 100.0
CREDIT_PRODUCTS = ("avatar_creation", "video_generation", "video_pack_5")  # no subject needed


@dataclass
class Notification:
    out_trade_no: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpRound:
    seconds: float
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    client_cpu_s: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(204, 0)


# --- machine and servers --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_tree_cpu_s(pid: int) -> float | None:
    """User + system CPU of a process and its direct children (gunicorn master + workers), Linux only."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        total = 0.0
        for one in [pid, *map(int, children)]:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS
        return total
    except (OSError, ValueError, IndexError):
        return None


class Gunicorn:
    """``python -m gunicorn -w 2 -k sync -b 127.0.0.1:<free port> wsgi:app`` (no access log: the default)."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = WORKERS) -> None:
        self.env, self.log_path, self.port, self.workers = env, log_path, free_port(), workers
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        cmd = [sys.executable, "-m", "gunicorn", "-w", str(self.workers), "-k", "sync", "-b", f"127.0.0.1:{self.port}",
               "--graceful-timeout", "5", "wsgi:app"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only this gunicorn
            self.proc.wait(timeout=5)

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Until the notify endpoint answers (400 to an unsigned POST) and both workers have booted."""
        deadline, last = time.monotonic() + timeout_s, "no answer"
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("POST", NOTIFY_PATH, body=b"{}", headers={"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
                booted = self.log_tail().count("Booting worker")
                if status == 400 and booted >= self.workers:
                    return
                last = f"status {status}, {booted} workers booted"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready after {timeout_s:g}s ({last})\n{self.log_tail()}")

    def cpu_s(self) -> float | None:
        return process_tree_cpu_s(self.proc.pid) if self.proc is not None else None


# --- set-up ---------------------------------------------------------------------------------------

def configure(tmp: Path, database_url: str, redis_url: str | None) -> dict[str, str]:
    """Environment of this process, the migration steps and gunicorn."""
    keys_dir = tmp / "wechat_sandbox_pay"
    # Before anything under app is imported: app.config reads MIAOHUA_INSTANCE_DIR at import.
    os.environ.update(
        MIAOHUA_ENV="development", LOG_LEVEL="WARNING", MIAOHUA_INSTANCE_DIR=str(tmp / "instance"),
        DATABASE_URL=database_url, WECHAT_SANDBOX="1",
        WECHAT_SANDBOX_PAY_KEYS_DIR=str(keys_dir), STORAGE_LOCAL_ROOT=str(tmp / "instance" / "objects"),
    )
    from devkit.wechat_sandbox.pay import dev_credentials

    creds = dev_credentials(keys_dir)
    os.environ.update(
        WECHAT_APPID=creds["appid"],
        WECHAT_PAY_MCHID=creds["mchid"], WECHAT_PAY_PRIVATE_KEY=creds["merchant_private_key"],
        WECHAT_PAY_CERT_SERIAL=creds["merchant_cert_serial_no"], WECHAT_PAY_APIV3_KEY=creds["apiv3_key"],
        WECHAT_PAY_PUBLIC_KEY=creds["wechatpay_public_key"],
        WECHAT_PAY_PUBLIC_KEY_ID=creds["wechatpay_public_key_id"],
        WECHAT_PAY_PLATFORM_CERTS=creds["platform_certificate"],
    )
    if redis_url:  # a fulfilment rings the shipping doorbell after commit (app/orders/shipping.py)
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    env = dict(os.environ)
    migrate(env)
    return env


def sandbox_pay(keys_dir: str):
    """The WeChat sandbox's Pay emulation on the same keys: it pays orders and signs notifications."""
    from devkit.wechat_sandbox.pay.settings import PaySettings
    from devkit.wechat_sandbox.pay.state import PayState
    from devkit.wechat_sandbox.settings import SandboxSettings
    from devkit.wechat_sandbox.state import SandboxState

    settings = SandboxSettings(pay=PaySettings(keys_dir=keys_dir))
    return PayState(settings, SandboxState(settings))


def create_users(n: int, pay) -> list[tuple[int, str]]:
    """N users with a WeChat identity, as the accounts service makes them; returns (user id, openid)."""
    from flask import current_app

    from app.accounts.models import User, WechatIdentity
    from app.accounts.services import OPENID_PURPOSE
    from app.core.crypto import lookup_hash, seal_text
    from app.extensions import db

    appid, tag = current_app.config["WECHAT_APPID"], secrets.token_hex(4)
    pairs = []
    for i in range(n):
        openid = pay.sandbox.openid_for(appid, f"bench-{tag}-{i}")
        user = User(nickname=f"bench {i}")
        db.session.add(user)
        db.session.add(WechatIdentity(user=user, appid=appid, openid_hash=lookup_hash(openid, OPENID_PURPOSE),
                                      openid_ciphertext=seal_text(openid, OPENID_PURPOSE)))
        pairs.append((user, openid))
    db.session.commit()
    return [(user.id, openid) for user, openid in pairs]


def create_orders_and_notifications(users: list[tuple[int, str]], pay) -> list[Notification]:
    """Fresh ``created`` orders (as services.create_order stores them), paid at the sandbox, notified."""
    from datetime import timedelta

    from flask import current_app

    from app.accounts.services import OPENID_PURPOSE
    from app.core.crypto import lookup_hash
    from app.core.db import utcnow
    from app.extensions import db
    from app.orders.models import Order, OrderEvent, OrderStatus
    from app.orders.products import PRODUCTS
    from app.orders.services import new_order_number
    from app.orders.wechatpay import merchant

    m = merchant()
    orders = []
    for n, (user_id, openid) in enumerate(users):
        product = PRODUCTS[CREDIT_PRODUCTS[n % len(CREDIT_PRODUCTS)]]
        order = Order(out_trade_no=new_order_number(), user_id=user_id, product_id=product.id, subject_id=None,
                      amount_fen=product.price_fen, payer_openid_hash=lookup_hash(openid, OPENID_PURPOSE),
                      expires_at=utcnow() + timedelta(seconds=current_app.config["ORDER_TTL_S"]))
        db.session.add(order)
        orders.append((order, product, openid))
    db.session.flush()
    for order, _product, _openid in orders:
        db.session.add(OrderEvent(order_id=order.id, from_status=None, to_status=OrderStatus.CREATED, cause="user"))
    db.session.commit()

    notifications = []
    for order, product, openid in orders:
        # What POST /v3/pay/transactions/jsapi records at the sandbox (validated fields), then the payer pays:
        # the sandbox builds TRANSACTION.SUCCESS (resource encrypted under the APIv3 key) and signs each send.
        pay.create_order({"mchid": m.mchid, "appid": m.appid, "out_trade_no": order.out_trade_no,
                          "description": product.name, "notify_url": "",
                          "amount": {"total": order.amount_fen, "currency": order.currency},
                          "payer": {"openid": openid}})
        delivery = pay.pay(pay.find_order(out_trade_no=order.out_trade_no), "SUCCESS", "OTHERS", by_prepay_id=False)
        headers = {"Content-Type": "application/json", "Accept": "*/*", "User-Agent": "Mozilla/4.0",
                   **pay.signed_headers(delivery.body)}
        notifications.append(Notification(order.out_trade_no, headers, delivery.body.encode()))
    return notifications


def check_round(notifications: list[Notification]) -> tuple[int, list[str]]:
    """How many orders ended fulfilled with exactly one entitlement and three events, and what is wrong."""
    import json

    from rq import Queue
    from sqlalchemy import func, select

    from app.core.jobs import redis_connection
    from app.extensions import db
    from app.orders.models import Entitlement, Order, OrderEvent, ProcessedNotification

    db.session.remove()
    numbers = [n.out_trade_no for n in notifications]
    rows = db.session.execute(
        select(Order.out_trade_no, Order.status, func.count(Entitlement.id))
        .outerjoin(Entitlement, Entitlement.order_id == Order.id)
        .where(Order.out_trade_no.in_(numbers)).group_by(Order.id, Order.out_trade_no, Order.status)).all()
    problems = []
    found = {number: (status, count) for number, status, count in rows}
    not_fulfilled = [n for n in numbers if found.get(n, ("missing", 0))[0] != "fulfilled"]
    wrong_count = [n for n in numbers if found.get(n, ("missing", 0))[1] != 1]
    if not_fulfilled:
        problems.append(f"{len(not_fulfilled)} orders not fulfilled (e.g. {not_fulfilled[0]}: "
                        f"{found.get(not_fulfilled[0], ('missing',))[0]})")
    if wrong_count:
        problems.append(f"{len(wrong_count)} orders without exactly one entitlement")
    events = dict(db.session.execute(
        select(Order.out_trade_no, func.count(OrderEvent.id)).join(OrderEvent, OrderEvent.order_id == Order.id)
        .where(Order.out_trade_no.in_(numbers)).group_by(Order.out_trade_no)).all())
    wrong_events = [n for n in numbers if events.get(n) != 3]
    if wrong_events:
        problems.append(f"{len(wrong_events)} orders without exactly 3 events (e.g. {wrong_events[0]}: "
                        f"{events.get(wrong_events[0], 0)})")
    ids = [json.loads(n.body)["id"] for n in notifications]
    recorded = db.session.scalar(select(func.count()).select_from(ProcessedNotification)
                                 .where(ProcessedNotification.id.in_(ids)))
    if recorded != len(ids):
        problems.append(f"{recorded} of {len(ids)} notification ids recorded as processed")
    try:
        sweeps = [job for job in Queue("default", connection=redis_connection()).jobs
                  if job.func_name == "app.orders.tasks.upload_pending_shipping"]
    except Exception as exc:  # redis raises several connection classes
        sweeps, problems = [], [*problems, f"shipping sweep not checked: Redis unavailable ({type(exc).__name__})"]
    if not sweeps:
        problems.append("no shipping sweep queued: the fulfilments did not ring the doorbell")
    good = sum(1 for n in numbers if found.get(n) == ("fulfilled", 1) and events.get(n) == 3)
    db.session.remove()
    return good, problems


# --- measurements ---------------------------------------------------------------------------------

def verify_rate(notifications: list[Notification], min_s: float = 0.5) -> float:
    """Notifications/s of verify + decrypt alone, one after another (one core): whole passes over the
    round's notifications until at least ``min_s`` has gone by."""
    from app.orders.wechatpay import verify_notification

    done, started = 0, time.perf_counter()
    while True:
        for n in notifications:
            verify_notification(n.headers, n.body)
        done += len(notifications)
        elapsed = time.perf_counter() - started
        if elapsed >= min_s:
            return done / elapsed


def post_all(port: int, notifications: list[Notification], clients: int) -> HttpRound:
    """POST every notification once from ``clients`` threads, each on a keep-alive connection.

    gunicorn's sync workers answer ``Connection: close``; http.client then reconnects by itself for the
    next request. A reused connection found closed is retried once on a fresh one; any other failure,
    and any status but 204, is counted.
    """
    work: queue.SimpleQueue[Notification] = queue.SimpleQueue()
    for n in notifications:
        work.put(n)
    statuses: Counter = Counter()
    errors: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, failures = Counter(), Counter()
        start.wait()
        while True:
            try:
                n = work.get_nowait()
            except queue.Empty:
                break
            for attempt in (1, 2):
                reused = conn.sock is not None
                try:
                    conn.request("POST", NOTIFY_PATH, body=n.body, headers=n.headers)
                    response = conn.getresponse()
                    response.read()
                    mine[response.status] += 1
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    conn.close()
                    if not (reused and attempt == 1):
                        failures[type(exc).__name__] += 1
                        break
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    failures[type(exc).__name__] += 1
                    break
        conn.close()
        with lock:
            statuses.update(mine)
            errors.update(failures)

    threads = [threading.Thread(target=client, name=f"bench-client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    started, cpu_started = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    return HttpRound(time.perf_counter() - started, statuses, errors, time.process_time() - cpu_started)


def verify_parts(notifications: list[Notification], blocks: int = 15, per_block: int = 40) -> dict[str, float]:
    """Informative: microseconds per call of verify_notification and of its main parts, measured in
    interleaved blocks (median of the blocks), so that all of them see the same machine."""
    import base64
    import json

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from app.orders.wechatpay import _verification_keys, merchant, verify_notification

    m = merchant()
    n = notifications[0]
    key, _until = _verification_keys(m)[n.headers["Wechatpay-Serial"]]
    message = (n.headers["Wechatpay-Timestamp"].encode() + b"\n" + n.headers["Wechatpay-Nonce"].encode() + b"\n"
               + n.body + b"\n")
    signature = base64.b64decode(n.headers["Wechatpay-Signature"])
    resource = json.loads(n.body)["resource"]
    parts = {
        "verify_notification": lambda: verify_notification(n.headers, n.body),
        "of which: looking up the keys (parsed once per merchant settings)":
            lambda: _verification_keys(m),
        "RSA-2048 PKCS#1 v1.5 verify": lambda: key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256()),
        "AES-256-GCM decrypt": lambda: AESGCM(m.apiv3_key.encode()).decrypt(
            resource["nonce"].encode(), base64.b64decode(resource["ciphertext"]), resource["associated_data"].encode()),
    }
    samples: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(blocks):
        for name, fn in parts.items():
            started = time.perf_counter()
            for _ in range(per_block):
                fn()
            samples[name].append((time.perf_counter() - started) / per_block * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


# --- main -----------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.payments", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=500, help="notifications (fresh orders) per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4, help="client threads posting notifications")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn sync workers (the issue: 2)")
    args = parser.parse_args()
    began = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="miaohua-bench-payments-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        redis_url = os.environ.get("BENCH_REDIS_URL")
        if redis_url:
            redis_note = "BENCH_REDIS_URL"
        elif shutil.which("redis-server"):
            redis_url = stack.enter_context(PrivateRedis(tmp / "redis.log")).url
            redis_note = f"private redis-server on {redis_url}"
        else:
            redis_note = ("none (no redis-server on PATH): each fulfilment's shipping doorbell fails "
                          "and logs an ERROR")
        database_url, db_note = stack.enter_context(bench_database(tmp, "payments", allow_sqlite=True))
        env = configure(tmp, database_url, redis_url)

        from app import create_app

        app = create_app()
        load1, load5, _ = os.getloadavg()
        import gunicorn

        print(f"machine: {cpu_count()} cores ({cpu_model()}), load {load1:.2f}/{load5:.2f} (1/5 min), "
              f"Python {platform.python_version()}, gunicorn {gunicorn.__version__} -w {args.workers} -k sync; "
              f"database: {db_note}; Redis: {redis_note}")
        print(f"N = {args.orders} notifications per round, {args.rounds} rounds (fresh orders each), "
              f"{args.clients} client threads")

        verify_rates, http_rates, cpu_per_n, problems, good_orders = [], [], [], [], 0
        with app.app_context():
            pay = sandbox_pay(os.environ["WECHAT_SANDBOX_PAY_KEYS_DIR"])
            users = create_users(args.orders, pay)
            with Gunicorn(env, tmp / "gunicorn.log", args.workers) as server:
                server.wait_ready()
                warm = create_orders_and_notifications(users[: min(20, len(users))], pay)
                verify_rate(warm, 0.1)  # imports, the cached merchant: not counted
                warm_round = post_all(server.port, warm, args.clients)
                if warm_round.ok != len(warm):
                    raise RuntimeError(f"warm-up: {dict(warm_round.statuses)} {dict(warm_round.errors)}\n"
                                       f"{server.log_tail()}")
                for i in range(1, args.rounds + 1):
                    notifications = create_orders_and_notifications(users, pay)
                    cpu_before = server.cpu_s()
                    result = post_all(server.port, notifications, args.clients)
                    cpu_after = server.cpu_s()
                    good, round_problems = check_round(notifications)
                    good_orders += good
                    bad = {k: v for k, v in result.statuses.items() if k != 204}
                    if bad:
                        round_problems.append(f"answers other than 204: {bad}")
                    if result.errors:
                        round_problems.append(f"client errors: {dict(result.errors)}")
                    problems += [f"round {i}: {p}" for p in round_problems]
                    verify_rates.append(verify_rate(notifications))
                    http_rates.append(result.ok / result.seconds)
                    cpu_text = ""
                    if cpu_before is not None and cpu_after is not None:
                        cpu_per_n.append((cpu_after - cpu_before) / len(notifications) * 1000)
                        cpu_text = (f", CPU per notification: server {cpu_per_n[-1]:.2f} ms, "
                                    f"client {result.client_cpu_s / len(notifications) * 1000:.2f} ms")
                    print(f"  round {i}/{args.rounds}: verify alone {verify_rates[-1]:7.0f}/s (1 core); HTTP "
                          f"{http_rates[-1]:6.1f}/s ({result.ok}x204 in {result.seconds:.2f} s{cpu_text})"
                          f"{'  PROBLEMS: ' + '; '.join(round_problems) if round_problems else ''}")
            parts = verify_parts(notifications)

    verify_median, http_median = statistics.median(verify_rates), statistics.median(http_rates)
    per_worker = http_median / args.workers
    ratio = per_worker / verify_median
    verify_ms = 1000 / verify_median
    print("where verify+decrypt time goes (us/call, measured together after the rounds): "
          + ", ".join(f"{name} {us:.0f}" for name, us in parts.items()))
    if cpu_per_n:
        cpu_ms = statistics.median(cpu_per_n)
        print(f"server CPU per notification (median): {cpu_ms:.2f} ms, of which verify+decrypt ~{verify_ms:.2f} ms "
              f"({verify_ms / cpu_ms:.0%})")
    total = args.orders * args.rounds
    header = ("benchmark", "baseline: verify+decrypt", f"subject: HTTP, {args.workers} workers",
              "per worker / baseline", "target", "result")
    table = [header,
             ("verified notifications/s", f"{verify_median:.0f}/s (1 core)",
              f"{http_median:.1f}/s ({per_worker:.1f}/s per worker)", f"{ratio:.1%}", f">= {TARGET_PER_S:.0f}/s",
              "PASS" if http_median >= TARGET_PER_S else "FAIL"),
             ("204; fulfilled, 1 entitlement, 3 events", "-", f"{good_orders}/{total} orders", "-", "all",
              "PASS" if not problems else "FAIL")]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for n, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    for problem in problems:
        print(f"  {problem}")
    print(f"took {time.monotonic() - began:.0f} s")
    return 0 if all(row[-1] == "PASS" for row in table[1:]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
