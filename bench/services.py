"""The servers a benchmark stands up around the app: a private Redis, a scratch database, RQ workers.

Everything here is owned by the run that started it and torn down at the end: the Redis is a
``redis-server`` on a free loopback port without persistence, the database is created for the run
(``createdb``-style, dropped afterwards) unless ``BENCH_DATABASE_URL`` names one, and each worker is
its own process group, so stopping it never touches anybody else's processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.harness import ROOT, free_port

ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def run_step(args: list[str], env: dict[str, str], what: str, timeout_s: float = 180) -> str:
    """``python <args>`` in the repository root; raises with the tail of its output when it fails."""
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=timeout_s, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return out.stdout


def process_cpu_s(pid: int, with_children: bool = True) -> float | None:
    """User + system CPU of a process, plus that of its children it has already reaped (an RQ worker's
    finished work horses, an app's ffmpeg) when ``with_children``; Linux /proc, None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


# --- Redis ----------------------------------------------------------------------------------------

class PrivateRedis:
    """``redis-server`` on a free loopback port, no persistence; ``url`` once entered."""

    def __init__(self, log_path: Path) -> None:
        self.port, self.log_path = free_port(), log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH (apt-get install -y redis-server), and BENCH_REDIS_URL "
                               "is not set")
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def bench_redis(tmp: Path) -> Iterator[tuple[str, str]]:
    """(url, note): ``BENCH_REDIS_URL`` (flushed by nobody: use a spare database) or a private server."""
    url = os.environ.get("BENCH_REDIS_URL")
    if url:
        yield url, "BENCH_REDIS_URL"
        return
    with PrivateRedis(tmp / "redis.log") as server:
        yield server.url, f"private redis-server on port {server.port}"


# --- PostgreSQL -----------------------------------------------------------------------------------

def postgres_answers(admin_url: str = ADMIN_URL) -> str | None:
    """None when PostgreSQL accepts a connection at ``admin_url``, else the reason it does not."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"
    try:
        with psycopg.connect(admin_url, connect_timeout=2):
            return None
    except psycopg.Error as exc:
        return f"no PostgreSQL at {urlsplit(admin_url).netloc or admin_url} ({str(exc).strip().splitlines()[0]})"


def _admin_for(url: str) -> tuple[str, str]:
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def create_database(name: str, admin_url: str = ADMIN_URL) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    admin, name = _admin_for(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def bench_database(tmp: Path, purpose: str, *, allow_sqlite: bool) -> Iterator[tuple[str | None, str]]:
    """(database URL, note): ``BENCH_DATABASE_URL`` as given (a disposable database: it gets migrated and
    filled), else a fresh PostgreSQL database on ``BENCH_POSTGRES_ADMIN_URL``'s server dropped at the end,
    else a SQLite file in ``tmp`` when ``allow_sqlite`` (else ``None`` and the reason)."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        yield url, f"BENCH_DATABASE_URL ({url.split(':', 1)[0]})"
        return
    reason = postgres_answers()
    if reason is None:
        name = f"miaohua_bench_{purpose}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        url = create_database(name)
        try:
            yield url, f"PostgreSQL, fresh database {name} (dropped at the end)"
        finally:
            with contextlib.suppress(Exception):
                drop_database(url)
        return
    if allow_sqlite:
        yield f"sqlite:///{tmp / 'bench.db'}", f"SQLite file in {tmp} ({reason})"
    else:
        yield None, reason


# --- the app's environment and its processes ------------------------------------------------------

def app_env(tmp: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of the app, its CLI steps and its workers in a benchmark (development config,
    quiet logs, a private instance directory, the WeChat sandbox's development merchant keys there)."""
    env = dict(os.environ)
    env.update(MIAOHUA_ENV="development", LOG_LEVEL="WARNING", DATABASE_URL=database_url, REDIS_URL=redis_url,
               MIAOHUA_INSTANCE_DIR=str(tmp / "instance"), STORAGE_LOCAL_ROOT=str(tmp / "instance" / "objects"),
               WECHAT_SANDBOX="1", WECHAT_SANDBOX_PAY_KEYS_DIR=str(tmp / "wechat_sandbox_pay"),
               MPLCONFIGDIR=str(tmp / "matplotlib"))
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    run_step(["-m", "flask", "--app", "wsgi:app", "db", "upgrade"], env, "flask db upgrade")
    run_step(["-m", "flask", "--app", "wsgi:app", "policy", "init"], env, "flask policy init")


class Worker:
    """``python -m workers --queues generation [--simple]``: the deployed worker command, in its own
    process group; stopped with SIGTERM (RQ's warm shutdown) and, after 10 s, SIGKILL to that group."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, *, simple: bool = False,
                 queues: tuple[str, ...] = ("generation",), preload: tuple[str, ...] = ()) -> None:
        """``preload``: modules the worker process imports before it starts (a variant measured against the
        deployed command: work horses then inherit them instead of importing them for every job)."""
        self.name, self.env, self.simple, self.queues, self.preload = name, env, simple, queues, preload
        self.log_path = log_dir / f"worker-{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        cmd = [sys.executable, "-m", "workers"]
        if self.preload:
            cmd = [sys.executable, "-c", f"import {', '.join(self.preload)}, sys; from workers.__main__ import main; "
                   "sys.exit(main(sys.argv[1:]))"]
        cmd += ["--queues", *self.queues, "--name", self.name]
        if self.simple:
            cmd.append("--simple")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    def cpu_s(self) -> float | None:
        return process_cpu_s(self.proc.pid) if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only this worker and its horse
            self.proc.wait(timeout=5)

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
