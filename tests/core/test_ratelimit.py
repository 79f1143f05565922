import pytest

from app.core.errors import RateLimited
from app.core.ratelimit import Rule, Window, enforce, parse_limits


def test_limits_parse_from_configuration():
    assert parse_limits("1/minute, 5/hour") == [Window(1, 60), Window(5, 3600)]
    with pytest.raises(ValueError, match="COUNT"):
        parse_limits("5 per hour")


def test_enforce_counts_per_subject_and_reports_retry_after(app_ctx):
    rule = Rule("test:ip", "10.0.0.1", "2/minute")
    enforce(rule)
    enforce(rule)
    with pytest.raises(RateLimited) as caught:
        enforce(rule)
    assert 1 <= caught.value.details["retry_after"] <= 61
    enforce(Rule("test:ip", "10.0.0.2", "2/minute"))  # another subject has its own budget


def test_missing_subject_is_not_limited(app_ctx):
    for _ in range(5):
        enforce(Rule("test:device", None, "1/minute"))


def test_the_limit_holds_over_any_span_not_per_calendar_window(app_ctx, monkeypatch):
    import app.core.ratelimit as ratelimit

    clock = [1_000_059.0]  # one second before a minute boundary
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    rule = Rule("test:span", "subject", "2/minute")
    enforce(rule)
    enforce(rule)
    clock[0] += 2  # past the calendar minute: a fixed window would reset here
    with pytest.raises(RateLimited) as caught:
        enforce(rule)
    assert caught.value.details["retry_after"] == 58
    clock[0] += 61
    enforce(rule)
