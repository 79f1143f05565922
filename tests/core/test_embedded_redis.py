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
