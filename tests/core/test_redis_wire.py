"""Commands packed by hand for the request path's one round trip (app/core/redis_wire.py): the same bytes as
redis-py sends; several replies read in step, error replies as values, over RESP2 and RESP3, with hiredis's
parser (what production installs) and with redis-py's Python one."""

from __future__ import annotations

import pytest
from redis import Redis
from redis.connection import Connection, _HiredisParser, _RESP2Parser, _RESP3Parser
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


def test_hiredis_parses_the_replies():
    """requirements.in installs hiredis for this round trip; redis-py picks it up by itself."""
    assert type(Connection()._parser) is _HiredisParser


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("parser", ["hiredis", "python"])
def test_replies_come_back_in_step_with_errors_as_values(shared_redis_url, protocol, parser):
    parser_class = _HiredisParser if parser == "hiredis" else (_RESP3Parser if protocol == 3 else _RESP2Parser)
    client = Redis.from_url(shared_redis_url, protocol=protocol, parser_class=parser_class)
    client.set("wire:a", "1")
    client.set("wire:big", BIG)
    client.delete("wire:n")
    conn = client.connection_pool.make_connection()
    conn.connect()
    replies = exchange(conn, lambda c: redis_wire.read_replies(c, len(COMMANDS)))
    assert replies == [[b"1", None, BIG.encode()], [1, None, b"x", [2, b"y"]], "error", 1, None, []]
    again = exchange(conn, by_redis_py)  # the connection is still in step
    assert again[3] == 2 and again[0] == replies[0]
    conn.disconnect()


def test_an_in_process_fake_reads_the_same():
    client = connect_redis("fakeredis://wire-test")
    client.set("wire:a", "1")
    client.set("wire:big", BIG)
    conn = client.connection_pool.make_connection()
    replies = exchange(conn, lambda c: redis_wire.read_replies(c, len(COMMANDS)))
    assert replies[0] == [b"1", None, BIG.encode()] and replies[2] == "error" and replies[3] == 1
