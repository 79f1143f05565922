"""Sliding-window rate limits kept in Redis, shared by every web process.

Limits are configuration strings such as ``"1/minute,5/hour"``. ``enforce`` records one hit against
every window of every rule and raises ``RateLimited`` (429 with ``retry_after``) when any window
holds more hits than its limit. Each window is a sorted set of hit times, so the limit holds over
any span of that length (a fixed window would let twice the limit through across a boundary).
Refused hits count too: a client that keeps hammering stays refused.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass

from app.core.errors import RateLimited
from app.core.jobs import redis_connection

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: int


def parse_limits(spec: str) -> list[Window]:
    windows = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        count, _, period = part.partition("/")
        if not count.isdigit() or period not in _PERIODS:
            raise ValueError(f"bad rate limit {part!r}: use COUNT/second|minute|hour|day")
        windows.append(Window(int(count), _PERIODS[period]))
    return windows


@dataclass(frozen=True)
class Rule:
    """``name`` identifies what is limited (``login:ip``), ``subject`` whom (an IP, a device hash)."""

    name: str
    subject: str | None
    spec: str


def enforce(*rules: Rule, message: str | None = None) -> None:
    now = time.time()
    conn = redis_connection()
    pipe = conn.pipeline()
    windows: list[tuple[str, Window]] = []
    hit = f"{now:.6f}:{uuid.uuid4().hex[:8]}"
    for rule in rules:
        if not rule.subject:
            continue
        for window in parse_limits(rule.spec):
            key = f"ratelimit:{rule.name}:{window.seconds}:{rule.subject}"
            pipe.zremrangebyscore(key, 0, now - window.seconds)
            pipe.zadd(key, {hit: now})
            pipe.zcard(key)
            pipe.expire(key, window.seconds + 1)
            windows.append((key, window))
    counts = pipe.execute()[2::4]
    retry_after = 0
    for (key, window), count in zip(windows, counts, strict=True):
        if count > window.limit:
            # The window frees up when enough of the oldest hits have aged out of it.
            oldest_blocking = conn.zrange(key, count - window.limit - 1, count - window.limit - 1, withscores=True)
            frees_at = oldest_blocking[0][1] + window.seconds if oldest_blocking else now + window.seconds
            retry_after = max(retry_after, math.ceil(frees_at - now))
    if retry_after:
        raise RateLimited(retry_after=max(1, retry_after), message=message)
