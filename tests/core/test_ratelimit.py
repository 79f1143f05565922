"""The rate limiter on Redis (the `limits` library): windows, subjects, retry times, start-up validation."""

import types

import pytest

from app.config import ConfigError
from app.core.errors import RateLimited
from app.core.ratelimit import Rule, enforce, parse_limits
from tests.conftest import make_app


def test_limits_parse_from_configuration():
    minute, hour = parse_limits("1/minute, 5/hour")
    assert (minute.amount, minute.get_expiry(), hour.amount, hour.get_expiry()) == (1, 60, 5, 3600)
    assert parse_limits("10 per day")[0].get_expiry() == 86400
    for bad in ("5 per fortnight", "five/minute", "", "0/minute"):
        with pytest.raises(ValueError, match="bad rate limit"):
            parse_limits(bad)


@pytest.mark.parametrize("setting", ["RATE_LIMIT_LOGIN_PER_IP", "RATE_LIMIT_UPLOADS_PER_USER",
                                     "RATE_LIMIT_DELETION_REQUESTS"])
def test_a_malformed_limit_stops_the_start_naming_the_setting(setting):
    with pytest.raises(ConfigError, match=f"{setting}: bad rate limit '30 a minute'"):
        make_app(**{setting: "30 a minute"})


def test_a_malformed_limit_from_the_environment_stops_the_start(monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_SMS_PER_PHONE", "1/minute,5/hours/day")
    with pytest.raises(ConfigError, match="RATE_LIMIT_SMS_PER_PHONE"):
        make_app()


@pytest.mark.parametrize("setting", ["UPLOAD_MAX_UNCLAIMED_PER_USER", "GENERATION_MAX_QUEUED_PER_USER"])
def test_a_per_user_cap_below_one_is_refused(monkeypatch, setting):
    monkeypatch.setenv(setting, "0")
    with pytest.raises(ConfigError, match=setting):
        make_app()


def test_enforce_counts_per_subject_and_reports_retry_after(app_ctx):
    rule = Rule("test:ip", "10.0.0.1", "2/minute")
    enforce(rule)
    enforce(rule)
    with pytest.raises(RateLimited) as caught:
        enforce(rule)
    assert 1 <= caught.value.details["retry_after"] <= 60
    assert caught.value.headers["Retry-After"] == str(caught.value.details["retry_after"])
    enforce(Rule("test:ip", "10.0.0.2", "2/minute"))  # another subject has its own budget


def test_missing_subject_is_not_limited(app_ctx):
    for _ in range(5):
        enforce(Rule("test:device", None, "1/minute"))


def test_a_refused_request_consumes_no_other_rule(app_ctx):
    tight, loose = Rule("test:tight", "s", "1/minute"), Rule("test:loose", "s", "2/minute")
    enforce(tight, loose)
    for _ in range(3):
        with pytest.raises(RateLimited):
            enforce(tight, loose)
    enforce(loose)  # the refused attempts did not use up the loose rule's second slot
    with pytest.raises(RateLimited):
        enforce(loose)


@pytest.fixture
def clock(monkeypatch):
    """One fake clock for the limiter's storage (it timestamps hits) and for the retry computation."""
    import limits.storage.redis as limits_redis

    import app.core.ratelimit as ratelimit

    now = [1_000_059.0]  # one second before a minute boundary
    fake = types.SimpleNamespace(time=lambda: now[0])
    monkeypatch.setattr(limits_redis, "time", fake)
    monkeypatch.setattr(ratelimit, "time", fake)
    return now


def test_the_limit_holds_over_any_span_not_per_calendar_window(app_ctx, clock):
    rule = Rule("test:span", "subject", "2/minute")
    enforce(rule)
    enforce(rule)
    clock[0] += 2  # past the calendar minute: a fixed window would reset here
    with pytest.raises(RateLimited) as caught:
        enforce(rule)
    assert caught.value.details["retry_after"] == 59  # the first hit ages out 58 s from now
    clock[0] += 58
    with pytest.raises(RateLimited):
        enforce(rule)  # a hit exactly a minute old still counts
    clock[0] += 1
    enforce(rule)


def test_retry_after_is_the_longest_of_the_full_windows(app_ctx, clock):
    rule = Rule("test:multi", "subject", "1/minute,2/hour")
    enforce(rule)
    clock[0] += 61
    enforce(rule)
    clock[0] += 61
    with pytest.raises(RateLimited) as caught:  # the minute has room again, the hour does not
        enforce(rule)
    assert caught.value.details["retry_after"] == 3600 - 122 + 1


def test_hits_are_stored_as_limits_moving_window_reads_them(app, app_ctx, clock):
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    from app.core.jobs import redis_connection

    rule = Rule("test:compat", "subject", "2/minute")
    enforce(rule)
    clock[0] += 10
    enforce(rule)
    [item] = parse_limits(rule.spec)
    storage = RedisStorage("redis://", connection_pool=redis_connection(app).connection_pool, key_prefix="ratelimit")
    reader = MovingWindowRateLimiter(storage)
    assert not reader.test(item, rule.name, rule.subject)
    stats = reader.get_window_stats(item, rule.name, rule.subject)
    assert (stats.reset_time, stats.remaining) == (1_000_059.0 + 60, 0)
