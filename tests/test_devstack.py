"""`make run`'s stack on its own: migrate, embedded queue, workers, web — and Ctrl-C stops it all."""

import json
import os
import signal
import socket
import subprocess
import sys
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
    proc = subprocess.Popen([sys.executable, "-m", "app.devstack"], cwd=ROOT, env=stack_env,
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
