"""Every error code the API answers, in every domain, reaches the user with a Chinese message.

The codes are read from the views' declarations (``@endpoint(errors=…)``, decorators, request hooks: what the
OpenAPI document lists, staff API included), so a code a new domain adds is checked without editing this file.
"""

from __future__ import annotations

from tests.i18n.catalog import answered_codes, code_messages, is_translated, lazy_msgid

# Raise sites that pass a message through from elsewhere (not a literal), and where that message is checked.
PASSED_THROUGH = {
    "app/core/ratelimit.py": "enforce(message=…): each caller's literal is extracted (a message= keyword) and "
                             "checked by test_every_extracted_message_has_a_zh_cn_translation",
    "app/uploads/services.py": "InvalidImage(exc.user_message): app.uploads.images.REASONS, checked below",
    "app/staff/manage.py": "_invalid(field, message, code): its callers are read as sites of their code",
}


def test_every_answered_code_has_a_message_and_every_message_is_translated(app):
    answered = answered_codes(app)
    messages = code_messages()
    assert len(answered) > 60
    problems = []
    for code in sorted(answered):
        sources = messages.get(code)
        if not sources:
            problems.append(f"{code} (answered by {sorted(answered[code])[0]}): no error class or raise site "
                            f"names this code with a literal message")
            continue
        for where, msgid in sources:
            if msgid is None and where.split(":")[0] in PASSED_THROUGH:
                continue
            if msgid is None:
                problems.append(f"{code} at {where}: the message cannot be read (use a literal or _l('…'))")
            elif not is_translated(msgid):
                problems.append(f"{code} at {where}: {msgid!r} has no zh_CN translation")
    assert not problems, "run `make i18n` and translate (docs/i18n.md):\n" + "\n".join(problems)


def test_the_passed_through_image_rejections_are_translated():
    from app.uploads.images import REASONS

    assert REASONS and all(is_translated(lazy_msgid(text)) for text in REASONS.values())


def test_the_codes_main_added_since_the_catalog_was_first_written_are_covered(app):
    """The domains that came after the first catalog: idempotency, pagination, rate limits, entitlements, notices,
    content checks, the queue limit, China's calendar."""
    answered, messages = answered_codes(app), code_messages()
    for code in ("invalid_cursor", "idempotency_key_reused", "idempotency_key_in_progress", "invalid_idempotency_key",
                 "rate_limited", "already_entitled", "notice_not_found", "notice_unknown_users",
                 "content_check_not_ready", "calendar_out_of_range"):
        assert code in messages, code
        assert all(is_translated(msgid) for where, msgid in messages[code]
                   if msgid is not None or where.split(":")[0] not in PASSED_THROUGH), (code, messages[code])
    assert {"invalid_cursor", "already_entitled", "content_check_not_ready"} <= set(answered)


def test_a_code_without_a_translation_is_reported(app, monkeypatch):
    """The check can fail: a code whose message is not in the catalog is listed."""
    import tests.i18n.test_error_codes as me

    real = code_messages()
    monkeypatch.setattr(me, "code_messages", lambda: {**real, "already_entitled": [("here", "Not in the catalog.")]})
    try:
        me.test_every_answered_code_has_a_message_and_every_message_is_translated(app)
    except AssertionError as exc:
        assert "already_entitled at here: 'Not in the catalog.'" in str(exc)
    else:
        raise AssertionError("an untranslated code went unnoticed")


def test_a_new_code_reads_chinese_by_default_and_english_on_request(app):
    from app.core.errors import error_response

    message = "You already have the HD download of this; there is nothing more to buy."
    with app.test_request_context("/"):
        assert error_response(409, "already_entitled", message).get_json()["error"]["message"] == (
            "您已拥有该作品的高清下载，无需重复购买。")
    with app.test_request_context("/", headers={"Accept-Language": "en-US,en;q=0.9"}):
        assert error_response(409, "already_entitled", message).get_json()["error"]["message"] == message
