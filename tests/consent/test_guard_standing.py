"""The global consent guard reads the user's standing with one statement, and that statement keeps the rules.

Job polling (most of the traffic) passes this guard on every request, so it must not cost more than one
query, and none while nothing changed (the accepted standing is kept in Redis: app/consent/standing.py);
the rules it applies are those of ``test_consent_guards.py``, checked here on the edges the single
statement could get wrong: which record is the latest, and which versions are in effect.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select, text

from app.consent import policy
from app.consent.models import ConsentRecord
from app.extensions import db
from tests.consent.conftest import publish

GALLERY = "/api/v1/test/gallery"  # guarded_app's stand-in for a feature that needs only the accepted policy


@contextmanager
def consent_statements(app):
    """Collects the SQL statements that read consent records or policy versions while the block runs."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "consent_records" in statement or "policy_versions" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


def test_a_passing_request_reads_the_standing_with_one_statement(user, guarded_app):
    user.accept()
    with consent_statements(guarded_app) as seen:
        response = user.get(GALLERY)
    assert response.status_code == 200 and "X-Policy-Notice" not in response.headers
    assert len(seen) == 1, seen
    with consent_statements(guarded_app) as seen:  # unchanged since: the answer kept in Redis (standing.py)
        assert user.get(GALLERY).status_code == 200
    assert seen == []


def test_a_cached_standing_never_outlives_a_change(user, guarded_app, gdb):
    """Accepted and cached; then a major version is published (ORM), or the record is rewritten by raw SQL."""
    user.accept()
    assert user.get(GALLERY).status_code == 200
    publish(guarded_app, "2026-12-01", major=True, summary="major")
    assert error_code(user.get(GALLERY)) == "policy_update_required"
    user.accept(version="2026-12-01")
    assert user.get(GALLERY).status_code == 200
    gdb.run(lambda s: (s.execute(text("UPDATE consent_records SET action = 'withdrawn' WHERE purpose = 'service'")),
                       s.commit()))
    assert error_code(user.get(GALLERY)) == "consent_required"


def test_a_cached_standing_ends_when_a_scheduled_version_takes_effect(user, guarded_app):
    user.accept()
    effective_at = datetime.now(UTC) + timedelta(seconds=1.5)
    with guarded_app.app_context():
        policy.publish("2099-01-01", "# 政策\n", major=True, summary="soon", effective_at=effective_at)
    assert user.get(GALLERY).status_code == 200  # kept in Redis until effective_at, not for the whole TTL
    time.sleep(max(0.0, (effective_at - datetime.now(UTC)).total_seconds()) + 0.2)
    assert error_code(user.get(GALLERY)) == "policy_update_required"


def test_the_minor_update_notice_comes_from_the_same_statement(user, guarded_app):
    user.accept()
    publish(guarded_app, "2026-11-15", major=False)
    with consent_statements(guarded_app) as seen:
        response = user.get(GALLERY)
    assert response.status_code == 200 and response.headers["X-Policy-Notice"] == "minor-update"
    assert len(seen) == 1, seen


def test_the_latest_service_record_decides_even_after_a_withdrawal(user, guarded_app, gdb):
    """A withdrawal (as account deletion or staff could record) is newer than the consent: refused."""
    user.accept()
    assert user.get(GALLERY).status_code == 200

    def withdraw(session):
        user_id = session.scalar(select(ConsentRecord.user_id).limit(1))
        session.add(ConsentRecord(user_id=user_id, purpose="service", action="withdrawn",
                                  policy_version_id=policy.INITIAL_VERSION_ID, channel="support", client_info={}))
        session.commit()

    gdb.run(withdraw)
    refused = user.get(GALLERY)
    assert refused.status_code == 403 and error_code(refused) == "consent_required"
    assert refused.get_json()["error"]["details"] == {"missing": ["service"],
                                                      "policy_version": policy.INITIAL_VERSION_ID}


def test_versions_not_yet_in_effect_neither_block_nor_notify(user, guarded_app):
    user.accept()
    with guarded_app.app_context():
        policy.publish("2099-01-01", "# 政策\n", major=True, summary="later",
                       effective_at=datetime.now(UTC) + timedelta(days=30))
    response = user.get(GALLERY)
    assert response.status_code == 200 and "X-Policy-Notice" not in response.headers


def test_a_major_update_refusal_names_the_current_version(user, guarded_app):
    user.accept()
    publish(guarded_app, "2026-12-01", major=True, summary="新增数字分身保存")
    publish(guarded_app, "2026-12-02", major=False, summary="更正错别字")  # the newest in effect is minor
    refused = user.get(GALLERY)
    assert refused.status_code == 403 and error_code(refused) == "policy_update_required"
    assert refused.get_json()["error"]["details"] == {"policy_version": "2026-12-02", "summary": "更正错别字"}
    user.accept(version="2026-12-02")
    assert user.get(GALLERY).status_code == 200
