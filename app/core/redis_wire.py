"""Redis commands packed by hand, for the one round trip of every authenticated request.

The request path sends a few fixed commands in one write (``app/accounts/sessions.py``,
``app/accounts/riders.py``): ``pack``/``bulk`` make the RESP arrays of bulk strings that
``Connection.pack_command`` makes, without its per-argument encoding machinery, and several of them
go out pre-packed. The replies are read by redis-py's own parser, which is hiredis's C parser when
hiredis is installed (``requirements.in``): measured on this box, a round trip of MGET + GET costs
44–48 us of CPU with hiredis, 56–61 us with redis-py's Python parser; a hand-written socket reader
tried on 2026-12-06 measured 47–51 us and was dropped for the library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import ResponseError


def bulk(value: str | bytes | int) -> bytes:
    """One RESP bulk string."""
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack(args: Sequence[str | bytes | int]) -> bytes:
    """One command (a RESP array of bulk strings)."""
    return b"*%d\r\n" % len(args) + b"".join(bulk(arg) for arg in args)


def read_replies(conn: Any, count: int) -> list[Any]:
    """``count`` replies to what was just sent on ``conn``; error replies come back as ``ResponseError`` values
    (redis-py raises one only once it has read that reply whole, so the following replies stay in step)."""
    replies = []
    for _ in range(count):
        try:
            replies.append(conn.read_response())
        except ResponseError as exc:
            replies.append(exc)
    return replies
