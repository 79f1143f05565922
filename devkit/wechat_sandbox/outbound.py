"""The sandbox's own requests to the backend (its content-check crawler and its message pushes), kept alive.

WeChat's servers hold their connections to a mini-program's server open; the sandbox used to open a fresh
one through ``requests.get``/``requests.post`` for every download and every push, each with a new
``requests.Session`` (environment scan, ``~/.netrc``, adapters). Measured 2026-12-07 against a local server,
client CPU per call: ``requests`` 1.1-1.3 ms, one shared urllib3 pool 0.5-0.6 ms; the backend is spared an
accept and a connection set-up per request too. In the load test (``bench.load``) the sandbox shares the
machine with the server it stands in front of, so what it spends is taken from the server under test: there
its process went from 23-26 % to 20-22 % of the two cores' 200 % (c=8 and 16, alternating twice, 06:25-06:36).

One ``urllib3.PoolManager`` for the process (thread-safe: every media check runs on a thread of its own). It trusts
for an https backend what ``requests`` trusted, by ``app.core.outbound``'s rule (``tls_trust``): the file or folder
named by ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``), else certifi's, read when the pool is made (urllib3 alone
reads neither; ``tests/deploy`` names its throwaway CA that way). No redirects followed, no proxy from the
environment (the sandbox talks to the backend it was pointed at), no retries but one for a download (``GET``) whose
kept-alive connection the backend closed as it was reused: a push is retried on WeChat's schedule by its caller, and
a download that fails means a ``review`` verdict. Failures raise :class:`SendFailed`, named as ``requests`` named
them (``ConnectionError``, ``ReadTimeout``…) in the records the dev API shows.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.util import Retry

from app.core.outbound import tls_trust

POOL_SIZE = 8  # connections kept per backend: more concurrent checks simply open (and drop) extra ones

_pools: urllib3.PoolManager | None = None
_pools_lock = threading.Lock()


class SendFailed(Exception):
    """The request got no HTTP answer: refused, reset, timed out, malformed."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class TooLarge(Exception):
    """The answer's body is longer than the caller accepts."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def _pool() -> urllib3.PoolManager:
    global _pools
    if _pools is None:
        with _pools_lock:
            if _pools is None:
                # requests' ``verify`` from the environment (its own one-line rule), turned into urllib3's arguments
                # by the app's rule; not requests' merge_environment_settings, which would also read proxies.
                verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
                trust = tls_trust(verify)
                _pools = urllib3.PoolManager(num_pools=4, maxsize=POOL_SIZE, block=False, **trust)
    return _pools


# A download once more when the kept-alive connection turned out closed (or the answer was late): a pool's race.
_DOWNLOAD_RETRY = Retry(total=1, connect=1, read=1, other=0, status=0, redirect=0, raise_on_redirect=False)


def _failed(exc: Exception) -> SendFailed:
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, ReadTimeoutError):
        return SendFailed("ReadTimeout", str(exc))
    if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):  # urllib3 nests them
        return SendFailed("ConnectTimeout", str(exc))
    return SendFailed("ConnectionError", str(exc))


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         params: dict[str, str] | None = None) -> Answer:
    """POST ``body``; the answer whatever its status."""
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
    try:
        response = _pool().request("POST", url, body=body, headers=headers, timeout=timeout, retries=False,
                                   redirect=False)
    except (HTTPError, OSError) as exc:
        raise _failed(exc) from exc
    return Answer(response.status, response.data)


def get_at_most(url: str, headers: dict[str, str], *, timeout: float, max_bytes: int,
                chunk_bytes: int = 64 * 1024) -> Answer:
    """GET, reading at most ``max_bytes`` of the body (``TooLarge`` beyond: the connection is dropped)."""
    try:
        response = _pool().request("GET", url, headers=headers, timeout=timeout, retries=_DOWNLOAD_RETRY,
                                   redirect=False, preload_content=False)
    except (HTTPError, OSError) as exc:
        raise _failed(exc) from exc
    try:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.stream(chunk_bytes):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"more than {max_bytes} bytes")
            chunks.append(chunk)
    except TooLarge:
        response.close()  # the rest of an oversized body is never read: this connection is dropped
        raise
    except (HTTPError, OSError) as exc:
        response.close()
        raise _failed(exc) from exc
    response.release_conn()
    return Answer(response.status, b"".join(chunks))
