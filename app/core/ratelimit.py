"""Rate limits on Redis through the ``limits`` library, shared by every web process.

Limits are configuration strings in the ``limits`` notation, e.g. ``"1/minute,5/hour"`` (also
``"10 per day"``, ``"3/10 minutes"``). Every ``RATE_LIMIT_*`` setting is parsed at start-up
(``init_app``): a malformed one stops the app with a ``ConfigError`` naming the setting, instead of
failing on the first request that uses it.

The strategy is ``limits``' moving window (one Redis list of hit times per window, trimmed and checked
by a Lua script), so a limit holds over any span of its length: a fixed window would let twice the
limit through across a boundary. The storage is the app's own Redis connection pool (the in-process
fakeredis in tests, the embedded server of ``make run``, a real Redis in production); fakeredis runs
the Lua scripts through ``lupa``.

``enforce`` first tests every window of every rule and records a hit in each only when all have
room, so a refused request consumes nothing (a login refused per IP does not also eat the device's
budget). It raises ``RateLimited`` (429 ``rate_limited``, ``details.retry_after``, ``Retry-After``)
with the time until the most constrained window frees a slot.

Why ``limits`` directly and not flask-limiter's decorators: every limit here is keyed by something
only the service knows after parsing or authenticating (a phone's lookup hash from the JSON body, the
device id, the user), several rules are checked together with one message, and the per-user limits
sit next to the counts they go with (live uploads, queued jobs) in the services. A decorator keyed on
the request would either parse the body twice or limit the wrong subject.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from app.core.errors import RateLimited
from app.core.jobs import redis_connection

KEY_PREFIX = "ratelimit"
_EXTENSION = "ratelimit"
_CACHE: dict[str, list[RateLimitItem]] = {}


def parse_limits(spec: str) -> list[RateLimitItem]:
    """The windows of a limit string; ``ValueError`` for anything malformed or a zero count."""
    cached = _CACHE.get(spec)
    if cached is not None:
        return cached
    try:
        items = parse_many(spec)
    except ValueError as exc:
        raise ValueError(f"bad rate limit {spec!r}: use COUNT/PERIOD[,COUNT/PERIOD…], PERIOD one of "
                         "second, minute, hour, day (e.g. 5/minute,100/day)") from exc
    if any(item.amount < 1 for item in items):
        raise ValueError(f"bad rate limit {spec!r}: a count of 0 refuses everything; use at least 1")
    _CACHE[spec] = items
    return items


@dataclass(frozen=True)
class Rule:
    """``name`` identifies what is limited (``login:ip``), ``subject`` whom (an IP hash, a user id)."""

    name: str
    subject: str | None
    spec: str


def limiter(app: Flask | None = None) -> MovingWindowRateLimiter:
    """The app's limiter on its Redis connection pool (created on first use: nothing connects at start-up)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(_EXTENSION)
    if found is None:
        pool = redis_connection(app).connection_pool
        # The URI only picks the redis client; the pool decides where it connects (fakeredis included).
        storage = RedisStorage("redis://", connection_pool=pool, key_prefix=KEY_PREFIX)
        found = app.extensions[_EXTENSION] = MovingWindowRateLimiter(storage)
    return found


def enforce(*rules: Rule, message: str | None = None) -> None:
    """Count one request against every rule that has a subject, or raise ``RateLimited`` counting none."""
    checks = [(item, (rule.name, rule.subject)) for rule in rules if rule.subject
              for item in parse_limits(rule.spec)]
    if not checks:
        return
    strategy = limiter()
    full = [(item, ids) for item, ids in checks if not strategy.test(item, *ids)]
    if not full:
        for item, ids in checks:
            if not strategy.hit(item, *ids):  # taken meanwhile by a concurrent request
                full.append((item, ids))
                break
    if full:
        raise RateLimited(retry_after=_retry_after(strategy, full), message=message)


def _retry_after(strategy: MovingWindowRateLimiter, full: list) -> int:
    now = time.time()
    # A full window frees a slot when its oldest counted hit ages out (the reset time of limits' stats);
    # a hit exactly a window old still counts, so the answer is the first whole second after that.
    frees_at = max(strategy.get_window_stats(item, *ids).reset_time for item, ids in full)
    return max(1, math.floor(frees_at - now) + 1)


def init_app(app: Flask) -> None:
    """Validate every RATE_LIMIT_* setting now, so a typo fails the start, not a user's request."""
    from app.config import ConfigError

    for name, value in app.config.items():
        if not name.startswith("RATE_LIMIT_"):
            continue
        try:
            if not isinstance(value, str):
                raise ValueError(f"expected a limit string such as '5/minute', got {value!r}")
            parse_limits(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from exc
