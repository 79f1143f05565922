"""The job poll's floor (issue #20): what any poll of an unchanged job must do, without our request pipeline.

Each request: the bearer token's SHA-256, one Redis round trip (an MGET of two epoch keys and a GET of the cached
answer, packed in one write and read with redis-py's parser, as ``app.accounts.sessions.AuthCache.current_epochs``
and its riders do), the answer's ETag (BLAKE2b, as ``app.generation.polling.respond``) and the poll's 11 response
headers. Served two ways by ``bench.job_poll`` under the same gunicorn as bare Flask:

- ``flask_app``: one Flask route doing that;
- ``wsgi_app``: the same as a bare WSGI callable, no framework.

What the real poll costs above ``flask_app`` is our pipeline (the bearer's session and its checks, flask-login,
the consent guard, the request hooks, the ORM's user, metrics); what ``flask_app`` costs above ``wsgi_app`` is
Flask's own request handling, which only a second path around Flask would leave out.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid

from flask import Flask, Response, request
from redis import Redis
from redis.connection import Connection

from app.core.crypto import token_hash
from app.core.redis_wire import pack, read_replies

GLOBAL_KEY, USER_KEY, VIEW_KEY = "bench:floor:epoch:global", "bench:floor:epoch:user", "bench:floor:view"
# An answer of the poll's size and shape (a queued job, 11th in line).
ANSWER = json.dumps({"data": {
    "created_at": "2026-12-08T00:27:46.516488Z", "error_code": None, "error_message": None, "estimated_wait_s": 30,
    "finished_at": None, "id": "70cb2f36a36144579b2baa96eb599ea1", "next_poll_after_s": 5, "progress": 0.0,
    "queue_position": 11, "results": [], "sources_deleted_at": None, "status": "queued", "status_text": "排队中",
    "style": "pop_art", "style_name": "波普艺术"}}, separators=(",", ":")).encode()
_REQUEST = pack(["MGET", GLOBAL_KEY, USER_KEY]) + pack(["GET", VIEW_KEY])
_connection: tuple[int, Connection] | None = None


def seed(redis_url: str) -> None:
    """The keys every request reads (run once, before the servers are asked)."""
    client = Redis.from_url(redis_url)
    client.mset({GLOBAL_KEY: "g1", USER_KEY: "u1", VIEW_KEY: ANSWER})
    client.close()


def _answer(authorization: str) -> bytes:
    """The bearer token's key (``token_hash``, as ``app.accounts.sessions`` makes it) and the one Redis round trip; a
    connection per process (gunicorn forks after import)."""
    global _connection
    token_hash(authorization.removeprefix("Bearer "))
    if _connection is None or _connection[0] != os.getpid():
        pool = Redis.from_url(os.environ["REDIS_URL"]).connection_pool
        _connection = (os.getpid(), pool.connection_class(**pool.connection_kwargs))
    conn = _connection[1]
    conn.send_packed_command([_REQUEST])
    epochs, answer = read_replies(conn, 2)
    if not isinstance(epochs, list) or None in epochs or answer is None:
        raise RuntimeError("bench.poll_floor_app: keys missing (seed() not run on this Redis)")
    return answer


def _headers(body: bytes) -> list[tuple[str, str]]:
    etag = hashlib.blake2b(body, digest_size=12).hexdigest()
    return [("ETag", f'"{etag}"'), ("Cache-Control", "private, no-cache"), ("Retry-After", "5"),
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("X-Request-ID", uuid.uuid4().hex), ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"), ("Content-Language", "zh-CN"), ("Vary", "Accept-Language")]


flask_app = Flask(__name__)


@flask_app.get("/api/v1/jobs/<job_id>")
def poll(job_id: str) -> Response:
    body = _answer(request.headers.get("Authorization", ""))
    return Response(body, headers=[h for h in _headers(body) if h[0] != "Content-Length"])  # werkzeug sets it


def wsgi_app(environ, start_response):
    if environ.get("REQUEST_METHOD") != "GET" or not environ.get("PATH_INFO", "").startswith("/api/v1/jobs/"):
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    body = _answer(environ.get("HTTP_AUTHORIZATION", ""))
    start_response("200 OK", _headers(body))
    return [body]
