"""The sandbox's own requests to the backend (``devkit.wechat_sandbox.outbound``): kept alive, bounded, failures
named as the dev API records them."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from devkit.wechat_sandbox import outbound


class _Backend(BaseHTTPRequestHandler):
    """A backend that keeps connections alive, as gunicorn's gthread workers do (werkzeug's development
    server closes every one): POST /push, GET /media/<size>, GET /slow (answers after 1 s), GET /drop-second
    (closes a connection without answering its second request)."""

    protocol_version = "HTTP/1.1"
    seen: list[dict]

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append({"port": self.client_address[1], "args": dict(parse_qsl(url.query)), "body": body})
        self._answer(b"success")

    def do_GET(self) -> None:
        self.seen.append({"port": self.client_address[1]})
        if self.path == "/drop-second" and sum(hit["port"] == self.client_address[1] for hit in self.seen) == 2:
            self.close_connection = True  # the kept-alive connection closes as it is reused: no answer at all
            return
        if self.path == "/slow":
            time.sleep(1.0)
        self._answer(b"x" * int(self.path.rpartition("/")[2]) if self.path.startswith("/media/") else b"ok")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _serving(seen: list[dict], tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """The backend on a free port, over TLS when given a context: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Backend", (_Backend,), {"seen": seen}))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def backend() -> Iterator[tuple[str, list[dict]]]:
    seen: list[dict] = []
    with _serving(seen) as url:
        yield url, seen


def test_requests_reuse_one_connection_and_send_the_query(backend):
    url, seen = backend
    first = outbound.post(f"{url}/push", b'{"Encrypt":"a"}', {"Content-Type": "application/json"},
                          timeout=2, params={"signature": "s 1", "nonce": "7"})
    download = outbound.get_at_most(f"{url}/media/1000", {}, timeout=2, max_bytes=2000)
    second = outbound.post(f"{url}/push", b"{}", {}, timeout=2)

    assert (first.status, first.text, second.status) == (200, "success", 200)
    assert download.status == 200 and download.body == b"x" * 1000
    assert seen[0]["args"] == {"signature": "s 1", "nonce": "7"} and seen[0]["body"] == b'{"Encrypt":"a"}'
    assert len({hit["port"] for hit in seen}) == 1  # one kept-alive connection, not one per request


def test_an_oversized_body_is_refused_and_the_connection_not_reused(backend):
    url, seen = backend
    with pytest.raises(outbound.TooLarge):
        outbound.get_at_most(f"{url}/media/300000", {}, timeout=2, max_bytes=100_000, chunk_bytes=16_384)
    after = outbound.get_at_most(f"{url}/media/10", {}, timeout=2, max_bytes=100)

    assert after.body == b"x" * 10  # not the rest of the oversized body
    assert seen[0]["port"] != seen[1]["port"]


def test_a_download_is_tried_once_more_when_its_kept_alive_connection_was_closed(backend):
    url, seen = backend
    first = outbound.get_at_most(f"{url}/drop-second", {}, timeout=2, max_bytes=100)
    second = outbound.get_at_most(f"{url}/drop-second", {}, timeout=2, max_bytes=100)

    assert first.body == second.body == b"ok"
    assert len(seen) == 3 and seen[0]["port"] == seen[1]["port"] != seen[2]["port"]


def test_no_answer_is_a_named_failure(backend):
    url, _ = backend
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(outbound.SendFailed) as refused:
        outbound.post(f"http://127.0.0.1:{closed}/push", b"{}", {}, timeout=2)
    with pytest.raises(outbound.SendFailed) as late:
        outbound.get_at_most(f"{url}/slow", {}, timeout=0.2, max_bytes=100)

    assert refused.value.kind == "ConnectionError" and str(refused.value).startswith("ConnectionError: ")
    assert late.value.kind == "ReadTimeout"


@pytest.fixture
def tls_backend(tmp_path, monkeypatch) -> Iterator[tuple[str, str]]:
    """The backend behind TLS with a certificate from a throwaway CA: (url, the CA's PEM file)."""
    from tests.deploy.stack import make_tls

    ca, cert, key = make_tls(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setattr(outbound, "_pools", None)  # the pool reads its trust when it is made (restored after)
    with _serving([], context) as url:
        yield url, str(ca)


def test_an_https_backend_is_trusted_through_the_ca_bundle_requests_would_use(tls_backend, monkeypatch):
    url, ca = tls_backend
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)  # how a deployment (and tests/deploy) names its CA

    pushed = outbound.post(f"{url}/push", b"{}", {"Content-Type": "application/json"}, timeout=5)
    download = outbound.get_at_most(f"{url}/media/64", {}, timeout=5, max_bytes=100)

    assert (pushed.status, pushed.text) == (200, "success")
    assert download.body == b"x" * 64


def test_an_https_backend_whose_ca_is_not_trusted_is_refused(tls_backend, monkeypatch):
    url, _ = tls_backend
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    with pytest.raises(outbound.SendFailed) as refused:
        outbound.post(f"{url}/push", b"{}", {}, timeout=5)

    assert refused.value.kind == "ConnectionError" and "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
