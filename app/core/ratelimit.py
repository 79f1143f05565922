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

``enforce`` tests every window of every rule and records a hit in each only when all have room, so a
refused request consumes nothing (a login refused per IP does not also eat the device's budget). It does
so in one Lua script (one Redis round trip, atomic: no concurrent request can take a slot between the
test and the hit), over the same keys and list format as ``limits``' moving window (its ``test``,
``hit`` and ``get_window_stats`` read them the same way). It raises ``RateLimited`` (429 ``rate_limited``,
``details.retry_after``, ``Retry-After``) with the time until the most constrained window frees a slot.
The keys of one call are several: on a Redis Cluster they would need one hash slot (not used here).

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
from redis.commands.core import Script

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


# KEYS: one list of hit times per window, newest first (limits' moving window); ARGV[1]: now; then, per key,
# its limit and its length in seconds. A window is full when its limit-th newest hit is still inside it.
# Full windows: {index, that hit's time, …}; none: a hit is recorded in every window, and {} comes back.
_ENFORCE_SCRIPT = """
local now = tonumber(ARGV[1])
local full = {}
for i, key in ipairs(KEYS) do
    local counted = redis.call('lindex', key, tonumber(ARGV[2 * i]) - 1)
    if counted and tonumber(counted) >= now - tonumber(ARGV[2 * i + 1]) then
        full[#full + 1] = i
        full[#full + 1] = counted
    end
end
if #full == 0 then
    for i, key in ipairs(KEYS) do
        redis.call('lpush', key, ARGV[1])
        redis.call('ltrim', key, 0, tonumber(ARGV[2 * i]) - 1)
        redis.call('expire', key, tonumber(ARGV[2 * i + 1]))
    end
end
return full
"""


def _enforce_script(app: Flask | None = None) -> Script:
    """The script, registered on the app's Redis connection pool (on first use: nothing connects at start-up)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(_EXTENSION)
    if found is None:
        found = app.extensions[_EXTENSION] = redis_connection(app).register_script(_ENFORCE_SCRIPT)
    return found


def enforce(*rules: Rule, message: str | None = None) -> None:
    """Count one request against every rule that has a subject, or raise ``RateLimited`` counting none."""
    keys: list[str] = []
    args: list[int] = []  # per key: its limit, its length in seconds
    for rule in rules:
        if rule.subject:
            for item in parse_limits(rule.spec):
                keys.append(f"{KEY_PREFIX}:{item.key_for(rule.name, rule.subject)}")
                args += (item.amount, item.get_expiry())
    if not keys:
        return
    now = time.time()
    full = _enforce_script()(keys, [now, *args])
    if full:
        # A full window frees a slot when its oldest counted hit ages out (the reset time of limits' stats);
        # a hit exactly a window old still counts, so the answer is the first whole second after that.
        pairs = zip(full[::2], full[1::2], strict=True)  # (1-based key index, its oldest counted hit)
        frees_at = max(float(counted) + args[2 * int(index) - 1] for index, counted in pairs)
        raise RateLimited(retry_after=max(1, math.floor(frees_at - now) + 1), message=message)


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
