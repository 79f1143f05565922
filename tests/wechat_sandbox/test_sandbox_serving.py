"""The sandbox's HTTP server keeps connections alive, as WeChat's servers do (``devkit/wechat_sandbox/serving.py``).

The backend's WeChat clients keep their connections (``app/core/outbound.py``); a server that closes each one
after its answer makes every call reconnect, which WeChat does not, and costs the load test CPU it counts
against the app.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from devkit.wechat_sandbox import SandboxSettings, create_sandbox_app
from devkit.wechat_sandbox.serving import SandboxServer
from devkit.wechat_sandbox.settings import DEFAULT_APPID

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOGIN = f"/sns/jscode2session?appid={DEFAULT_APPID}&secret=wrong&js_code=nope&grant_type=authorization_code"


def two_requests_on_one_connection(port: int) -> list[tuple[int, str | None, dict]]:
    """GET the dev API's app list, then a (refused) jscode2session, on one connection; what each answered,
    after checking that the second went over the first one's socket."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    answers = []
    try:
        sockets = []
        for path in ("/sandbox/api/apps", LOGIN):
            connection.request("GET", path)
            response = connection.getresponse()
            answers.append((response.status, response.getheader("Connection"), json.loads(response.read())))
            sockets.append(connection.sock)
        assert sockets[0] is not None and sockets[1] is sockets[0], "the second request needed a new connection"
    finally:
        connection.close()
    return answers


def test_served_in_a_thread_keeps_the_connection_and_stops():
    server = SandboxServer(create_sandbox_app(SandboxSettings()), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        (apps_status, apps_connection, apps), (login_status, login_connection, login) = (
            two_requests_on_one_connection(server.port))
    finally:
        server.shutdown()
        thread.join(timeout=10)

    assert apps_status == 200 and apps_connection != "close"
    assert DEFAULT_APPID in json.dumps(apps)
    assert login_status == 200 and login_connection != "close"
    assert login["errcode"] != 0  # WeChat's answer to a bad secret: an errcode, over the same connection
    assert not thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_command_line_serves_kept_alive_connections():
    environment = {**os.environ, "MIAOHUA_ENV": "development"}
    process = subprocess.Popen([sys.executable, "-m", "devkit.wechat_sandbox", "--port", "0"], cwd=PROJECT_ROOT,
                               env=environment, stderr=subprocess.PIPE, text=True)
    try:
        banner = process.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/sandbox/", banner)
        assert found, f"no address in the sandbox's first line: {banner!r}"
        answers = two_requests_on_one_connection(int(found.group(1)))
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert [status for status, _, _ in answers] == [200, 200]
    assert all(connection != "close" for _, connection, _ in answers)
