"""`make run`'s stack on its own: migrate, embedded queue, workers, web — and Ctrl-C stops it all."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        assert proc.poll() is None, "the stack exited during start-up"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout_s}s")


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def stack_env(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in {"DATABASE_URL", "REDIS_URL", "MIAOHUA_ENV", "TEST_DATABASE_URL", "TEST_REDIS_URL"}}
    env.update(MIAOHUA_INSTANCE_DIR=str(tmp_path / "instance"), WEB_PORT=str(free_port()),
               EMBEDDED_REDIS_PORT=str(free_port()), WECHAT_SANDBOX_PORT=str(free_port()), PYTHONUNBUFFERED="1")
    return env


def test_make_run_stack_answers_readyz_runs_a_cli_job_and_stops_on_ctrl_c(stack_env):
    web_port = int(stack_env["WEB_PORT"])
    proc = subprocess.Popen([sys.executable, "-m", "devkit.devstack"], cwd=ROOT, env=stack_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{web_port}/readyz", proc)
        assert Path(stack_env["MIAOHUA_INSTANCE_DIR"], "miaohua.db").exists()  # migrated SQLite
        ping = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi:app", "jobs", "ping",
                               "--queue", "generation", "--timeout", "20"],
                              cwd=ROOT, env=stack_env, capture_output=True, text=True, timeout=60)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert "answered by worker" in ping.stdout
        # a phone logs in through the stack's own WeChat sandbox
        sandbox = f"http://127.0.0.1:{stack_env['WECHAT_SANDBOX_PORT']}"
        code = post_json(f"{sandbox}/sandbox/api/login-codes", {"user": "alice"})["code"]
        login = post_json(f"http://127.0.0.1:{web_port}/api/v1/auth/wechat", {"code": code})
        assert login["data"]["token"].startswith("mh_")
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "stopped" in output
    assert port_is_closed(web_port)
    assert port_is_closed(int(stack_env["EMBEDDED_REDIS_PORT"]))
    assert port_is_closed(int(stack_env["WECHAT_SANDBOX_PORT"]))


class StackOutput:
    """The stack's output, read line by line in a thread while it runs."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)

    def events(self, message: str) -> list[dict]:
        found = []
        for line in list(self.lines):
            if line.startswith("{") and f'"message": "{message}"' in line:
                found.append(json.loads(line))
        return found

    def wait_for(self, message: str, count: int, timeout_s: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            events = self.events(message)
            if len(events) >= count:
                return events
            time.sleep(0.2)
        raise AssertionError(f"no {count} x {message!r} within {timeout_s}s:\n{''.join(self.lines)[-3000:]}")

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(self.lines)


def jobs_ping(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi:app", "jobs", "ping", "--queue", "generation",
                           "--timeout", "30"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)


def test_a_killed_generation_worker_is_restarted_and_processes_the_next_job(stack_env):
    proc = subprocess.Popen([sys.executable, "-m", "devkit.devstack"], cwd=ROOT, env=stack_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = StackOutput(proc)
    try:
        wait_ready(f"http://127.0.0.1:{stack_env['WEB_PORT']}/readyz", proc)
        started = {event["child"]: event["pid"] for event in output.events("process started")}
        assert set(started) == {"worker generation", "worker default+maintenance", "scheduler", "wechat sandbox",
                                "web"}
        worker_pid = started["worker generation"]
        first = jobs_ping(stack_env)
        assert first.returncode == 0 and "answered by worker" in first.stdout, first.stdout + first.stderr

        os.kill(worker_pid, signal.SIGKILL)  # as the OOM killer would
        exited = output.wait_for("process exited; restarting", 1)[0]
        assert (exited["child"], exited["pid"], exited["returncode"]) == ("worker generation", worker_pid,
                                                                            -signal.SIGKILL)
        restarted = [e for e in output.wait_for("process started", 6) if e["child"] == "worker generation"][-1]
        assert restarted["pid"] != worker_pid and restarted["restarts"] == 1

        after = jobs_ping(stack_env)  # the next job on the generation queue is processed by the new worker
        assert after.returncode == 0 and "answered by worker" in after.stdout, after.stdout + after.stderr
        assert proc.poll() is None  # the stack kept running throughout
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, output.text()
    assert "stopped" in output.text()
