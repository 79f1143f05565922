"""Other domains' per-request Redis reads, sent in the auth epochs' round trip: one round trip a request.

A request whose token this process has seen is authenticated with one MGET of the two auth epochs
(``sessions.AuthCache.current_epochs``). Guards and views that run later in the same request read
the same Redis for their own caches: the consent standing (``app/consent/standing.py``), the job
poll's cached answer (``app/generation/polling.py``). Each was a round trip of its own, ~0.1-0.15 ms
of client CPU (redis-py's command packing and reply parsing) plus the wait.

Instead a domain registers a *rider* once, at import: ``ride_along(name, build)``. ``build(user_id)``
runs inside the request, just before the auth MGET is sent, and returns the Redis command (its
arguments) that the domain will want for this request, or None (not this request: another endpoint,
its cache off). The auth read packs those commands behind its MGET, sends everything in one write and
reads every reply. The domain takes its reply later with ``ridden(name, user_id)``: once, in the same
request, only for the user the request authenticated as. It gets None when its command did not ride
(no cache entry for the token, the auth cache off, Redis unavailable, an error reply such as
``NOSCRIPT``): it then reads Redis itself, as before. Each domain keeps its keys and the decision
from its reply; the reply is read when the request is authenticated, a moment before the guard would
have read it itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import has_request_context, request
from redis.exceptions import ResponseError

from app.core.redis_wire import pack

Command = Sequence[str | bytes | int] | bytes  # the arguments, or the command already packed (``redis_wire``)
_RIDERS: dict[str, Callable[[int], Command | None]] = {}
_ATTRIBUTE = "_miaohua_ridden"  # on the request object: (user id, {name: reply})
_MISSING = object()


def ride_along(name: str, build: Callable[[int], Command | None]) -> None:
    """Register (or replace) the rider ``name``: ``build(user_id)`` gives this request's command or None."""
    _RIDERS[name] = build


def commands(user_id: int) -> list[tuple[str, bytes]]:
    """The riders' packed commands for this request (none outside a request)."""
    if not _RIDERS or not has_request_context():
        return []
    out = []
    for name, build in _RIDERS.items():
        args = build(user_id)
        if args is not None:
            out.append((name, args if isinstance(args, bytes) else pack(args)))
    return out


def keep(user_id: int, replies: dict[str, Any]) -> None:
    """The replies read for this request; an error reply (``ResponseError``) is left out: that rider reads
    Redis itself."""
    kept = {name: reply for name, reply in replies.items() if not isinstance(reply, ResponseError)}
    setattr(request._get_current_object(), _ATTRIBUTE, (user_id, kept))  # type: ignore[attr-defined]


def ridden(name: str, user_id: int) -> Any:
    """This request's reply to rider ``name`` for ``user_id`` (taken once), or None when it did not ride."""
    if not has_request_context():
        return None
    kept = getattr(request._get_current_object(), _ATTRIBUTE, None)  # type: ignore[attr-defined]
    if kept is None or kept[0] != user_id:
        return None
    reply = kept[1].pop(name, _MISSING)
    return None if reply is _MISSING else reply
