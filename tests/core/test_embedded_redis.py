import threading

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
