"""Throwaway Redis and PostgreSQL servers that a fault test may stop and start at will.

The machine's shared servers (and those CI starts) are never touched: each test module gets its
own server on a free loopback port, in a temporary directory, and removes it afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from app.core.embedded_redis import EmbeddedRedisServer
from tests.conftest import free_port

POSTGRES_BIN_DIRS = [*sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True),
                     *([Path(shutil.which("initdb")).resolve().parent] if shutil.which("initdb") else [])]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout}s")


class ThrowawayRedis:
    """A real ``redis-server`` when installed, else the embedded (fakeredis) TCP server of ``make run``.

    ``stop()`` closes the port and every open connection, as a crashed or restarted Redis does; the
    data is gone afterwards (no persistence), as after a real restart without a dump.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.binary = shutil.which("redis-server")
        self.process: subprocess.Popen | None = None
        self.embedded: EmbeddedRedisServer | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        if self.binary:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            self.embedded = EmbeddedRedisServer(("127.0.0.1", self.port))
            threading.Thread(target=self.embedded.serve_forever, daemon=True).start()
        _wait(self._answers, 10, "redis")

    @property
    def running(self) -> bool:
        return self.process is not None or self.embedded is not None

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
        if self.embedded is not None:
            self.embedded.shutdown()
            self.embedded.server_close()
            self.embedded = None


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own (``initdb`` in a temporary directory, fsync off).

    ``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` system user.
    ``stop()`` is an immediate shutdown (every connection dropped at once, as in a crash).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.bin_dir = next((d for d in POSTGRES_BIN_DIRS if (d / "initdb").exists()), None)
        self.run_as: list[str] = []
        self.directory: Path | None = None
        self.running = False

    def unavailable_reason(self) -> str | None:
        if self.bin_dir is None:
            return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root without a 'postgres' user to own a throwaway cluster"
            if not shutil.which("runuser"):
                return "running as root without runuser"
            self.run_as = ["runuser", "-u", "postgres", "--"]
        return None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)

    def create(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="miaohua-fault-pg-"))
        if self.run_as:
            shutil.chown(self.directory, user="postgres")
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.directory / "data"), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data"), "-o", options, "-w",
                  "-l", str(self.directory / "log"), "start")
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "-w",
                      "stop")
            self.running = False

    def destroy(self) -> None:
        if self.directory is None:
            return
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
