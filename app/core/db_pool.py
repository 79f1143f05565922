"""PostgreSQL pool health: a connection is pinged before use only when it sat idle, not on every checkout.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` each time a request takes a connection from the pool: a
round trip to the server on every request that touches the database (40-50 us of client CPU per checkout,
measured in-process; docs/performance.md). Most of those connections were handed back a few milliseconds
earlier by the previous request and are as alive as they were then.

So, as HikariCP does by default (``aliveBypassWindowMs``, 500 ms): a connection checked in less than
``DATABASE_PING_AFTER_IDLE_S`` seconds ago is used as it is; an older one is pinged first, and one that
does not answer is replaced, together with every connection of the pool older than it (a server restart
kills them all), before the request sees it. A fresh connection is not pinged. ``0`` pings on every
checkout, as ``pool_pre_ping`` does.

What this gives up: a connection that dies within that window after its last use (PostgreSQL restarted
between two requests less than half a second apart) fails the one request that takes it, which answers
``503 database_unavailable``; SQLAlchemy then invalidates the pool, and the next requests get new
connections. Connections dropped while idle (a server restart during a quiet moment, an idle timeout on
the server or on a proxy) are caught by the ping, as before.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidatePoolError

_CHECKED_IN_AT = "miaohua_checked_in_at"  # in the connection record's info (cleared when it is invalidated)


def ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping connections idle for at least ``idle_s`` seconds when they are checked out (see the module)."""
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _fresh(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()  # just connected: as good as just used

    @event.listens_for(engine, "checkin")
    def _stamp(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        last = record.info.get(_CHECKED_IN_AT)
        if last is not None and time.monotonic() - last < idle_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                # The pool replaces this connection and every older one, then tries the checkout again.
                raise InvalidatePoolError("connection lost while idle") from exc
            raise
