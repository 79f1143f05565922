"""``make run``: the whole product on one machine with nothing installed but Python.

Starts, in this order, and stops all of them on Ctrl-C:
1. database migrations (SQLite under ``instance/`` unless DATABASE_URL says otherwise);
2. with no REDIS_URL: an embedded Redis-compatible server (fakeredis) on 127.0.0.1:EMBEDDED_REDIS_PORT,
   so the web process and CLI commands (``flask jobs ping``) reach the same queues over TCP;
3. the WeChat sandbox (its own process on WECHAT_SANDBOX_PORT, default 5100) when WECHAT_SANDBOX is on;
4. workers and the periodic-job scheduler: threads of this process when embedded (they use the
   in-process fake server directly, which is faster and avoids blocking commands over the emulated
   socket), otherwise processes (``python -m workers``, ``python -m workers.scheduler``);
5. the web app as a child process on WEB_PORT (default 5000).

With the sandbox on it also seeds the demo's staff account (``app.demo.staff``) and prints its password,
so the admin console at ``/admin/`` can be tried at once. The web app serves plain http on 127.0.0.1, so the
staff cookie goes without its ``Secure`` flag here (``STAFF_COOKIE_SECURE=0``, unless set otherwise).
"""

from __future__ import annotations

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


@dataclass
class DevStack:
    host: str = "127.0.0.1"
    web_port: int = int(os.environ.get("WEB_PORT", "5000"))
    children: list[subprocess.Popen] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stop_callbacks: list = field(default_factory=list)
    demo_staff: object = None

    def run(self) -> int:
        config = load_config()
        os.makedirs(os.environ.get("MIAOHUA_INSTANCE_DIR", "instance"), exist_ok=True)
        app = create_app(config)
        self.migrate(app)
        from app.demo.staff import ensure_demo_staff

        self.demo_staff = ensure_demo_staff(app, INSTANCE_DIR)
        env = dict(os.environ)
        env.setdefault("STAFF_COOKIE_SECURE", "0")  # http://127.0.0.1 (a deployment serves https)
        if config.REDIS_URL is None:
            self.start_embedded_queue(app, config.EMBEDDED_REDIS_PORT)
            env["REDIS_URL"] = f"redis://127.0.0.1:{config.EMBEDDED_REDIS_PORT}/0"
        else:
            self.start_worker_processes(env)
        if config.WECHAT_SANDBOX:
            self.start_wechat_sandbox(env, config.WECHAT_SANDBOX_PORT)
        self.start_web(env)
        self.wait_until_ready(f"http://{self.host}:{self.web_port}/readyz")
        if config.WECHAT_SANDBOX:
            self.wait_until_ready(f"http://{self.host}:{config.WECHAT_SANDBOX_PORT}/sandbox/api/apps")
        self.print_banner(config)
        return self.supervise()

    def migrate(self, app) -> None:
        from flask_migrate import upgrade

        from app.consent.policy import ensure_initial_version

        with app.app_context():
            upgrade()
            ensure_initial_version()

    def start_embedded_queue(self, app, port: int) -> None:
        import fakeredis
        from rq import Queue

        from app.core.embedded_redis import EmbeddedRedisServer
        from workers.base import AppThreadWorker

        server = EmbeddedRedisServer((self.host, port))
        serve = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
        serve.start()
        self.stop_callbacks.append(server.shutdown)
        # Workers share the server's data in memory; everybody else connects over TCP.
        connection = fakeredis.FakeRedis(server=server.fake_server)
        for queue_names in WORKER_GROUPS:
            queues = [Queue(name, connection=connection) for name in queue_names]
            worker = AppThreadWorker(queues, connection=connection, flask_app=app)
            thread = threading.Thread(target=worker.work, kwargs={"logging_level": "INFO"},
                                      name=f"worker-{'+'.join(queue_names)}", daemon=True)
            thread.start()
            self.stop_callbacks.append(worker.request_thread_stop)
            self.threads.append(thread)
        from app.ops.periodic import ThreadCronScheduler, build_scheduler

        scheduler = build_scheduler(app, connection, ThreadCronScheduler)
        threading.Thread(target=scheduler.start, name="scheduler", daemon=True).start()

    def start_worker_processes(self, env: dict[str, str]) -> None:
        for queue_names in WORKER_GROUPS:
            self.children.append(subprocess.Popen([sys.executable, "-m", "workers", "--queues", *queue_names],
                                                  env=env))
        self.children.append(subprocess.Popen([sys.executable, "-m", "workers.scheduler"], env=env))

    def start_wechat_sandbox(self, env: dict[str, str], port: int) -> None:
        # Content-check verdicts are pushed to the web app, as WeChat would.
        sandbox_env = {**env, "WECHAT_SANDBOX_PUSH_URL": f"http://{self.host}:{self.web_port}/api/v1/wechat/push"}
        self.children.append(subprocess.Popen(
            [sys.executable, "-m", "app.wechat_sandbox", "--host", self.host, "--port", str(port)], env=sandbox_env,
        ))

    def start_web(self, env: dict[str, str]) -> None:
        self.children.append(subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi:app", "run", "--host", self.host,
             "--port", str(self.web_port), "--no-reload", "--no-debugger"],
            env=env,
        ))

    def wait_until_ready(self, url: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(child.poll() is not None for child in self.children):
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
        stopping = threading.Event()

        def on_signal(signum, frame) -> None:
            stopping.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        exit_code = 0
        while not stopping.wait(0.5):
            for child in self.children:
                if child.poll() is not None:
                    print(f"process {child.args[2:4]} exited with {child.returncode}; stopping", flush=True)
                    exit_code = 1
                    stopping.set()
        self.shutdown()
        return exit_code

    def shutdown(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        for callback in self.stop_callbacks:
            callback()
        print("stopped", flush=True)


def main() -> int:
    return DevStack().run()


if __name__ == "__main__":
    sys.exit(main())
