"""A loopback stand-in for a WeChat gateway at the HTTP level, for the transport tests
(tests/core/test_wechat_transport.py, tests/orders/test_pay_transport.py): it keeps connections alive as
WeChat's gateways do (werkzeug's test server closes each) and notes every request with the client's port,
the connection it came on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from time import sleep as pause  # bound now: tests may replace time.sleep to record the client's back-off
from urllib.parse import parse_qs, urlsplit

from tests.conftest import run_server

Answer = tuple[int, dict[str, str], bytes, float]  # status, headers, body, seconds to wait before answering


class KeepAliveGateway:
    """Answers every GET and POST with ``respond(path)``; ``seen`` lists the requests in the order they came."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                gateway.seen.append({"method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                                     "body": body, "host": self.headers.get("Host"), "port": self.client_address[1],
                                     "content_type": self.headers.get("Content-Type"),
                                     "authorization": self.headers.get("Authorization")})
                status, headers, answer, delay = gateway.respond(parts.path)
                pause(delay)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(answer))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_GET  # noqa: N815 - http.server's names

            def log_message(self, *args) -> None:
                pass

        self.handler = Handler

    def respond(self, path: str) -> Answer:
        raise NotImplementedError

    @contextmanager
    def serving(self) -> Iterator[str]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        server.daemon_threads = True
        with run_server(server) as base_url:
            yield base_url
