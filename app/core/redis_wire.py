"""Redis commands packed, and their replies read, by hand: for the one round trip of every authenticated request.

redis-py without hiredis packs each command and parses each reply in Python, generically (~10 us of CPU
for a three-key MGET, most of it the reply parser's per-line machinery). The request path sends a
few fixed commands and reads their replies (``app/accounts/sessions.py``, ``app/accounts/riders.py``):

- ``pack``/``bulk``: RESP arrays of bulk strings, what ``Connection.pack_command`` makes;
- ``read_replies``: that many replies (bulk and simple strings, integers, nils, arrays, errors as
  ``ResponseError`` values, not raised; RESP3's null, boolean and double too) read straight from the
  connection's socket, when it is a redis-py connection over a real socket with nothing left in its own buffer;
  anything else (fakeredis in tests, a redis-py whose internals differ) goes through redis-py's
  ``read_response``, with the same values. Other RESP3 types (maps, sets, pushes) are not expected from
  these commands: met, they are a protocol error. A socket error or timeout is raised as redis-py's
  ``ConnectionError`` (the caller drops the connection).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError

_CRLF = b"\r\n"
_PROTOCOLS = ("2", "3", "None")  # RESP2 and RESP3 (redis-py 8 speaks 3 unless told otherwise)


def bulk(value: str | bytes | int) -> bytes:
    """One RESP bulk string."""
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack(args: Sequence[str | bytes | int]) -> bytes:
    """One command (a RESP array of bulk strings)."""
    return b"*%d\r\n" % len(args) + b"".join(bulk(arg) for arg in args)


class _Incomplete(Exception):
    pass


def _parse(buf: bytes, pos: int) -> tuple[Any, int]:
    end = buf.find(_CRLF, pos)
    if end < 0:
        raise _Incomplete
    kind, line, pos = buf[pos], buf[pos + 1:end], end + 2
    if kind == 36:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete
        return buf[pos:pos + size], pos + size + 2
    if kind == 42:  # * array
        size = int(line)
        if size < 0:
            return None, pos
        items = []
        for _ in range(size):
            item, pos = _parse(buf, pos)
            items.append(item)
        return items, pos
    if kind == 58:  # : integer
        return int(line), pos
    if kind == 43:  # + simple string
        return line, pos
    if kind == 45:  # - error
        return ResponseError(line.decode(errors="replace")), pos
    if kind == 95:  # _ null (RESP3)
        return None, pos
    if kind == 35:  # # boolean (RESP3)
        return line == b"t", pos
    if kind == 44:  # , double (RESP3)
        return float(line), pos
    raise InvalidResponse(f"Protocol error: {buf[pos:pos + 20]!r}")


def _direct_socket(conn: Any) -> Any:
    """The connection's socket when its replies can be read here, else None."""
    sock = getattr(conn, "_sock", None)
    parser = getattr(conn, "_parser", None)
    if not isinstance(sock, socket.socket) or parser is None or str(getattr(conn, "protocol", None)) not in _PROTOCOLS:
        return None
    buffer = getattr(parser, "_buffer", None)
    unread = getattr(buffer, "unread_bytes", None)
    if unread is None or unread() != 0:  # redis-py holds unread bytes (or is not the one known here): it reads
        return None
    return sock


def read_replies(conn: Any, count: int) -> list[Any]:
    """``count`` replies to what was just sent on ``conn``; error replies come back as ``ResponseError`` values."""
    sock = _direct_socket(conn)
    if sock is None:
        replies = []
        for _ in range(count):
            try:
                replies.append(conn.read_response())
            except ResponseError as exc:  # redis-py raises an error reply once it has read it all
                replies.append(exc)
        return replies
    buf = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError as exc:
            raise RedisConnectionError("Timeout reading from Redis") from exc
        except OSError as exc:
            raise RedisConnectionError(f"Error while reading from Redis: {exc}") from exc
        if not chunk:
            raise RedisConnectionError("Redis closed the connection")
        buf += chunk
        try:
            replies, pos = [], 0
            for _ in range(count):
                reply, pos = _parse(buf, pos)
                replies.append(reply)
        except _Incomplete:
            continue
        if pos != len(buf):
            raise InvalidResponse("more bytes than the replies asked for")
        return replies
