import contextlib
import socket
import threading
import time

import pytest
import redis
from rq import Queue

from app.core.embedded_redis import EmbeddedRedisServer
from tests.conftest import free_port


@pytest.fixture
def embedded():
    server = EmbeddedRedisServer(("127.0.0.1", free_port()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.server_address[1]}/0"
    server.shutdown()
    server.server_close()


def test_a_command_error_keeps_the_connection_open(embedded):
    conn = redis.Redis.from_url(embedded, single_connection_client=True)
    with pytest.raises(redis.ResponseError):
        conn.execute_command("NO-SUCH-COMMAND")
    conn.set("k", "v")  # same connection, still served
    assert conn.get("k") == b"v"


def test_rq_enqueues_over_tcp_without_losing_the_connection(embedded):
    conn = redis.Redis.from_url(embedded)
    queue = Queue("default", connection=conn)
    ids = [queue.enqueue("os.getpid").id for _ in range(20)]
    assert queue.job_ids == ids


def test_rate_limits_work_on_the_embedded_server(embedded):
    """`make run`'s queue server runs the limiter's Lua scripts (fakeredis with lupa), over TCP."""
    from app.core.errors import RateLimited
    from app.core.ratelimit import Rule, enforce
    from tests.conftest import make_app

    app = make_app(REDIS_URL=embedded)
    with app.app_context():
        rule = Rule("test:embedded", "someone", "2/minute")
        enforce(rule)
        enforce(rule)
        with pytest.raises(RateLimited) as caught:
            enforce(rule)
        assert 1 <= caught.value.details["retry_after"] <= 60


def blpop_in_thread(url: str) -> tuple[redis.Redis, threading.Thread]:
    """A client blocked in BLPOP over TCP, as an idle RQ worker is."""
    conn = redis.Redis.from_url(url, single_connection_client=True)

    def wait() -> None:
        with contextlib.suppress(redis.ConnectionError, OSError, ValueError):  # the test may close its socket
            conn.blpop(["jobs"], timeout=30)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    time.sleep(0.5)  # blocked in the server by now
    return conn, thread


def test_a_client_that_hung_up_in_blpop_never_takes_the_next_value(embedded):
    """A killed worker's pending BLPOP must not pop, and lose, the next job pushed."""
    conn, _ = blpop_in_thread(embedded)
    conn.connection._sock.shutdown(socket.SHUT_RDWR)  # gone, as a SIGKILLed process's socket is
    other = redis.Redis.from_url(embedded)
    other.rpush("jobs", "job-1")  # at once: before the watchdog has had its turn
    time.sleep(0.3)
    assert other.lrange("jobs", 0, -1) == [b"job-1"]
    assert other.blpop(["jobs"], timeout=5) == (b"jobs", b"job-1")  # a live client gets it


def test_shutdown_returns_promptly_while_a_client_waits_in_blpop():
    server = EmbeddedRedisServer(("127.0.0.1", free_port()))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    _, waiting = blpop_in_thread(f"redis://127.0.0.1:{server.server_address[1]}/0")
    started = time.monotonic()
    server.shutdown()
    server.server_close()
    waiting.join(timeout=5)
    assert not waiting.is_alive()  # the client got its answer (a timeout) instead of waiting 30 s
    assert time.monotonic() - started < 5
