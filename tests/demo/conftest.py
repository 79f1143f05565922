"""A fresh ``make run`` stack (``python -m devkit.devstack``) on free ports, for the end-to-end demo tests.

The stack gets its own instance folder (SQLite database, objects, keys) and never the test backends
(``TEST_DATABASE_URL``/``TEST_REDIS_URL`` are stripped): it is what a newcomer gets from ``make run``. Its
output goes to a log file rather than a pipe, so a long run can never fill a pipe buffer and stall it; the
log's tail is in the failure message when the stack does not start or does not stop cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser import browser  # noqa: F401 - the Chromium fixture, for the browser tests
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
STRIPPED = {"DATABASE_URL", "REDIS_URL", "MIAOHUA_ENV", "TEST_DATABASE_URL", "TEST_REDIS_URL"}


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]
    web: str  # http://127.0.0.1:<port>
    sandbox: str  # http://127.0.0.1:<port>
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the stack exited during start-up:\n{log.read_text(errors='replace')[-4000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout_s}s:\n{log.read_text(errors='replace')[-4000:]}")


@contextmanager
def make_run(folder: Path) -> Iterator[Stack]:
    """`make run` on free ports with ``folder/instance``; stopped with Ctrl-C (SIGINT), which must exit 0."""
    env = {key: value for key, value in os.environ.items() if key not in STRIPPED}
    web_port, sandbox_port = free_port(), free_port()
    env.update(MIAOHUA_INSTANCE_DIR=str(folder / "instance"), WEB_PORT=str(web_port),
               EMBEDDED_REDIS_PORT=str(free_port()), WECHAT_SANDBOX_PORT=str(sandbox_port),
               WECHAT_SANDBOX_PAY_KEYS_DIR=str(folder / "instance" / "wechat_sandbox_pay"),
               WECHAT_SANDBOX_MEDIA_CHECK_DELAY="0", PYTHONUNBUFFERED="1",
               # A content check that could not start (logged "content check could not start") is restarted by
               # the uploads sweep; every 60 s by default, which is the page test's whole wait for an upload. Seen
               # once in CI on a loaded machine (cause not found: the stack's log had been cleaned up).
               SWEEP_UPLOADS_INTERVAL_S="10")
    # WeChat Pay's gateway: the stack's own sandbox (the default while config.py does not point it there itself).
    env.setdefault("WECHAT_PAY_BASE_URL", f"http://127.0.0.1:{sandbox_port}")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "make-run.log"
    with log.open("w") as output:
        proc = subprocess.Popen([sys.executable, "-m", "devkit.devstack"], cwd=ROOT, env=env, stdout=output,
                                stderr=subprocess.STDOUT, text=True)
    stack = Stack(env=env, web=f"http://127.0.0.1:{web_port}", sandbox=f"http://127.0.0.1:{sandbox_port}", log=log)
    try:
        wait_ready(f"{stack.web}/readyz", proc, log)
        wait_ready(f"{stack.sandbox}/sandbox/api/apps", proc, log)
        yield stack
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.returncode == 0, f"make run exited {proc.returncode}:\n{stack.log_tail()}"


@pytest.fixture
def stack(tmp_path) -> Iterator[Stack]:
    """A fresh stack for one test."""
    with make_run(tmp_path / "stack") as running:
        yield running


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory) -> Iterator[Stack]:
    """A fresh stack shared by the tests of one module (each test uses its own sandbox user).

    ``DEMO_BASE_URL`` (set by ``browser_tour.py --base-url``): use that running stack instead of starting one.
    """
    running = os.environ.get("DEMO_BASE_URL")
    if running:
        yield Stack(env=dict(os.environ), web=running.rstrip("/"), sandbox="", log=Path(os.devnull))
        return
    with make_run(tmp_path_factory.mktemp("stack")) as started:
        yield started
