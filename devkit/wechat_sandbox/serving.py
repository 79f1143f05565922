"""Serve the sandbox over HTTP/1.1 with kept-alive connections, as WeChat's own servers do (waitress).

Werkzeug's development server (what ``run_simple`` and ``make_server`` give) closes every connection
after one answer (werkzeug >= 2.1) and starts a thread per connection. So the backend, whose WeChat
clients keep their connections alive (``app/core/outbound.py``), had to reconnect for every call to
the sandbox, and the sandbox spent ~1.7 ms of CPU on the server side of each trivial request against
~0.4 ms under waitress (measured 2026-12-07, a Flask JSON answer, server in its own process). In the
load test the sandbox shares the machine's cores with the app, so that cost was counted against the
app's throughput though WeChat's servers run elsewhere in production. waitress is a maintained,
pure-Python HTTP/1.1 server with keep-alive and a fixed pool of worker threads.

``SandboxServer`` runs it in the caller's thread (``serve_forever``) and stops it from any thread
(``shutdown``); ``python -m devkit.wechat_sandbox`` and the benchmarks' in-process sandbox use it.
"""

from __future__ import annotations

import threading

from flask import Flask
from waitress import create_server
from waitress.wasyncore import close_all

WORKER_THREADS = 8  # the app's gunicorn threads that may call at once (2 workers x 4) in the load test


class SandboxServer:
    """The sandbox app bound to ``host:port`` (0: any free port) until ``shutdown``."""

    def __init__(self, app: Flask, host: str, port: int, *, threads: int = WORKER_THREADS) -> None:
        self._channels: dict = {}  # waitress's socket map, ours so that shutdown can close every channel in it
        self._server = create_server(app, map=self._channels, host=host, port=port, threads=threads,
                                     ident="wechat-sandbox")
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return self._server.effective_port

    def serve_forever(self) -> None:
        """Answer requests until ``shutdown`` (or Ctrl-C in the thread that serves)."""
        try:
            self._server.run()
        finally:
            self._stopped.set()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop serving: finish the requests in progress, close the listening socket and every connection."""
        self._server.task_dispatcher.shutdown(cancel_pending=False, timeout=timeout_s)
        # Closed from the serving thread (a trigger's callback), not under its poll(); the loop ends once
        # its map is empty.
        self._server.trigger.pull_trigger(lambda: close_all(self._channels))
        self._stopped.wait(timeout_s)
