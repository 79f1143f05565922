"""Commands packed and replies read by hand for the request path's one round trip (app/core/redis_wire.py):
the same bytes as redis-py sends, the same values as redis-py reads, over RESP2 and RESP3 and through
the fallback to redis-py's own parser."""

from __future__ import annotations

import pytest
from redis import Redis
from redis.connection import Connection
from redis.exceptions import ResponseError

from app.core import redis_wire
from app.core.jobs import connect_redis

BIG = "x" * 150_000  # more than one recv() of the reader
COMMANDS = [["MGET", "wire:a", "wire:missing", "wire:big"], ["EVAL", "return {1, false, 'x', {2, 'y'}}", 0],
            ["EVALSHA", "0" * 40, 0], ["INCR", "wire:n"], ["GET", "wire:missing"], ["EVAL", "return {}", 0]]


def test_pack_is_what_redis_py_sends():
    args = ["EVALSHA", "ab" * 20, 12, "généré", b"\x00raw"]
    assert redis_wire.pack(args) == b"".join(Connection().pack_command(*args))


def by_redis_py(conn) -> list:
    replies = []
    for _ in COMMANDS:
        try:
            replies.append(conn.read_response())
        except ResponseError as exc:
            replies.append(exc)
    return replies


def comparable(replies: list) -> list:
    return ["error" if isinstance(r, ResponseError) else r for r in replies]  # redis-py words some differently


def exchange(conn, read) -> list:
    conn.send_packed_command([redis_wire.pack(command) for command in COMMANDS])
    return comparable(read(conn))


@pytest.mark.parametrize("protocol", [2, 3])
def test_replies_read_by_hand_are_redis_py_s(shared_redis_url, protocol):
    client = Redis.from_url(shared_redis_url, protocol=protocol)
    client.set("wire:a", "1")
    client.set("wire:big", BIG)
    client.delete("wire:n")
    conn = client.connection_pool.make_connection()
    conn.connect()
    assert redis_wire._direct_socket(conn) is not None  # the reader's own path, not the fallback
    by_hand = exchange(conn, lambda c: redis_wire.read_replies(c, len(COMMANDS)))
    expected = exchange(conn, by_redis_py)
    expected[3] = 1  # INCR ran twice
    assert by_hand == expected
    assert by_hand[0] == [b"1", None, BIG.encode()] and by_hand[2] == "error"
    conn.disconnect()


def test_an_in_process_fake_falls_back_to_redis_py_s_parser():
    client = connect_redis("fakeredis://wire-test")
    client.set("wire:a", "1")
    client.set("wire:big", BIG)
    conn = client.connection_pool.make_connection()
    assert redis_wire._direct_socket(conn) is None
    replies = exchange(conn, lambda c: redis_wire.read_replies(c, len(COMMANDS)))
    assert replies[0] == [b"1", None, BIG.encode()] and replies[2] == "error" and replies[3] == 1
