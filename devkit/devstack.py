"""``make run``: the whole product on one machine with nothing installed but Python.

Starts, in this order, supervises, and stops all of them on Ctrl-C (SIGINT) or SIGTERM:
1. database migrations (SQLite under ``instance/`` unless DATABASE_URL says otherwise);
2. with no REDIS_URL: an embedded Redis-compatible server (fakeredis) on 127.0.0.1:EMBEDDED_REDIS_PORT, a
   thread of this process, so every other process reaches the same queues over TCP (``flask jobs ping`` too);
3. the WeChat sandbox (its own process on WECHAT_SANDBOX_PORT, default 5100) when WECHAT_SANDBOX is on;
4. the workers and the periodic-job scheduler, as child processes (``python -m workers``, the same forking
   worker as in production, and ``python -m workers.scheduler``); each is a fresh interpreter, so no process
   inherits mediapipe models from a parent (this one never loads them);
5. the web app as a child process on WEB_PORT (default 5000), with glibc malloc settings that keep its
   memory flat under uploads (``WEB_MALLOC_ENV``).

Supervision: a child that exits (crash, OOM kill, ``kill -9``) is logged and started again after a backoff
(1 s, doubling to 30 s while it keeps dying within a minute of its start); the stack stops only on a signal.
A child that exits while the stack is still starting is a configuration problem: the stack stops with it.

With the sandbox on it also seeds the demo's staff account (``devkit.demo.staff``) and prints its password,
so the admin console at ``/admin/`` can be tried at once. The web app serves plain http on 127.0.0.1, so the
staff cookie goes without its ``Secure`` flag here (``STAFF_COOKIE_SECURE=0``, unless set otherwise).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from app import create_app
from app.config import INSTANCE_DIR, load_config
from app.core.jobs import DEFAULT_QUEUE, GENERATION_QUEUE, MAINTENANCE_QUEUE

WORKER_GROUPS = ([GENERATION_QUEUE], [DEFAULT_QUEUE, MAINTENANCE_QUEUE])
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0  # a child that ran this long before exiting starts again after the first backoff

log = logging.getLogger("devkit.devstack")


def web_command(host: str, port: int) -> list[str]:
    """The web app on Werkzeug's threaded development server (``bench/upload_memory.py`` measures it so)."""
    return [sys.executable, "-m", "flask", "--app", "wsgi:app", "run", "--host", host, "--port", str(port),
            "--no-reload", "--no-debugger"]


# glibc malloc for the web process (issue #16; measured in bench/upload_memory.py, explained in docs/uploads.md,
# "Memory of the web process"). With the defaults, each request thread of the development server gets its own malloc
# arena (12 seen after 100 uploads) and the dynamic mmap threshold rises to the size of a decoded photo (~26 MB),
# so every photo buffer is carved from an arena and, once freed, stays there: ~35 MiB held per arena, 275 of
# 343 MiB of arena memory free but never returned. A fixed threshold (which also stops the dynamic one) sends
# every buffer of 1 MiB or more to mmap, returned to the system on free; two arenas bound what small objects
# can strand. deploy/entrypoint.sh gives gunicorn the same values (a test keeps them equal).
WEB_MALLOC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "1048576"}


def web_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of the web process: ``env`` with ``WEB_MALLOC_ENV`` where ``env`` does not say otherwise."""
    return {**WEB_MALLOC_ENV, **env}


@dataclass
class Child:
    """One supervised process of the stack: started, watched, started again after a backoff when it exits."""

    name: str
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures_in_a_row: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, env=self.env)
        self.started_at, self.restart_at = time.monotonic(), None
        log.info("process started", extra={"child": self.name, "pid": self.proc.pid, "restarts": self.restarts})

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def watch(self, now: float) -> None:
        """Called every tick: notice an exit and schedule the restart, or restart when its time has come."""
        if self.restart_at is None and self.exited():
            assert self.proc is not None
            self.failures_in_a_row = 1 if now - self.started_at >= STABLE_AFTER_S else self.failures_in_a_row + 1
            delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self.failures_in_a_row - 1))
            self.restart_at = now + delay
            log.warning("process exited; restarting", extra={
                "child": self.name, "pid": self.proc.pid, "returncode": self.proc.returncode,
                "restart_in_s": delay, "ran_s": round(now - self.started_at, 1)})
        elif self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            self.start()

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def wait_or_kill(self, timeout_s: float = 10) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class DevStack:
    host: str = "127.0.0.1"
    web_port: int = int(os.environ.get("WEB_PORT", "5000"))
    children: list[Child] = field(default_factory=list)
    stop_callbacks: list = field(default_factory=list)
    demo_staff: object = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> int:
        config = load_config()
        os.makedirs(os.environ.get("MIAOHUA_INSTANCE_DIR", "instance"), exist_ok=True)
        app = create_app(config)
        self.migrate(app)
        from devkit.demo.staff import ensure_demo_staff

        self.demo_staff = ensure_demo_staff(app, INSTANCE_DIR)
        env = dict(os.environ)
        env.setdefault("STAFF_COOKIE_SECURE", "0")  # http://127.0.0.1 (a deployment serves https)
        self.handle_signals()
        try:
            if config.REDIS_URL is None:
                self.start_embedded_queue(config.EMBEDDED_REDIS_PORT)
                env["REDIS_URL"] = f"redis://127.0.0.1:{config.EMBEDDED_REDIS_PORT}/0"
            self.start_worker_processes(env)
            if config.WECHAT_SANDBOX:
                self.start_wechat_sandbox(env, config.WECHAT_SANDBOX_PORT)
            self.start_web(env)
            self.wait_until_ready(f"http://{self.host}:{self.web_port}/readyz")
            if config.WECHAT_SANDBOX:
                self.wait_until_ready(f"http://{self.host}:{config.WECHAT_SANDBOX_PORT}/sandbox/api/apps")
        except BaseException:
            self.shutdown()
            raise
        if self.stopping.is_set():  # Ctrl-C while starting
            self.shutdown()
            return 0
        self.print_banner(config)
        return self.supervise()

    def handle_signals(self) -> None:
        def on_signal(signum, frame) -> None:
            self.stopping.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def migrate(self, app) -> None:
        from flask_migrate import upgrade

        from app.consent.policy import ensure_initial_version

        with app.app_context():
            upgrade()
            ensure_initial_version()

    def start_embedded_queue(self, port: int) -> None:
        from app.core.embedded_redis import EmbeddedRedisServer

        server = EmbeddedRedisServer((self.host, port))
        serve = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
        serve.start()
        self.stop_callbacks.append(server.shutdown)

    def start_child(self, name: str, args: list[str], env: dict[str, str]) -> None:
        child = Child(name, args, env)
        child.start()
        self.children.append(child)

    def start_worker_processes(self, env: dict[str, str]) -> None:
        for queue_names in WORKER_GROUPS:
            self.start_child(f"worker {'+'.join(queue_names)}",
                             [sys.executable, "-m", "workers", "--queues", *queue_names], env)
        self.start_child("scheduler", [sys.executable, "-m", "workers.scheduler"], env)

    def start_wechat_sandbox(self, env: dict[str, str], port: int) -> None:
        # Content-check verdicts are pushed to the web app, as WeChat would.
        sandbox_env = {**env, "WECHAT_SANDBOX_PUSH_URL": f"http://{self.host}:{self.web_port}/api/v1/wechat/push"}
        self.start_child("wechat sandbox", [sys.executable, "-m", "devkit.wechat_sandbox", "--host", self.host,
                                            "--port", str(port)], sandbox_env)

    def start_web(self, env: dict[str, str]) -> None:
        self.start_child("web", web_command(self.host, self.web_port), web_env(env))

    def wait_until_ready(self, url: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stopping.is_set():
                return
            if any(child.exited() for child in self.children):
                raise SystemExit("a process of the stack exited during start-up; see the log above")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{url} did not become ready within {timeout_s:.0f}s")

    def print_banner(self, config) -> None:
        base = f"http://{self.host}:{self.web_port}"
        queue = "embedded (fakeredis)" if config.REDIS_URL is None else "Redis at REDIS_URL"
        lines = [
            "",
            "Miaohua is running. Ctrl-C stops everything.",
            f"  Demo         {base}/demo/  (the mini-program, simulated; CLI: .venv/bin/flask --app wsgi:app demo run)",
            f"  API docs     {base}/api/v1/docs",
            *self.console_lines(base),
            f"  Readiness    {base}/readyz",
            *([f"  WeChat       http://{self.host}:{config.WECHAT_SANDBOX_PORT}/sandbox/  (sandbox: test users,"
               " login and phone codes)"] if config.WECHAT_SANDBOX else []),
            f"  Database     {config.SQLALCHEMY_DATABASE_URI.split('@')[-1]}",
            f"  Queue        {queue}; workers: {', '.join('+'.join(g) for g in WORKER_GROUPS)}",
            "  Try          .venv/bin/flask --app wsgi:app jobs ping",
            "",
        ]
        print("\n".join(lines), flush=True)

    def console_lines(self, base: str) -> list[str]:
        staff = self.demo_staff
        if staff is None:
            return [f"  Console      {base}/admin/  (create a staff account: .venv/bin/flask --app wsgi:app "
                    "staff create-admin <name>)"]
        password = staff.password or f"(removed from {staff.password_file}; reset it with flask staff …)"
        return [f"  Console      {base}/admin/  staff login: {staff.username} / {password}  (every role; demo only)"]

    def supervise(self) -> int:
        while not self.stopping.wait(0.5):
            now = time.monotonic()
            for child in self.children:
                child.watch(now)
        self.shutdown()
        return 0

    def shutdown(self) -> None:
        for child in reversed(self.children):  # the web app first, the workers last
            child.terminate()
        for child in self.children:
            child.wait_or_kill()
        for callback in self.stop_callbacks:
            callback()
        print("stopped", flush=True)


def main() -> int:
    return DevStack().run()


if __name__ == "__main__":
    sys.exit(main())
