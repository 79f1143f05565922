"""Withdrawal effects, minors and guardians (§8(3), §9), and the history that cannot be rewritten."""

from contextlib import contextmanager

from sqlalchemy import select

from app.consent.models import ConsentRecord, GuardianConsent
from app.core import lifecycle
from tests.accounts.conftest import sms_code


@contextmanager
def withdrawals():
    """What a domain registered in the lifecycle registry is told when consent goes (every domain is)."""
    calls = []

    def react(user_id, purpose, reason):
        calls.append({"user_id": user_id, "purpose": purpose, "reason": reason})

    lifecycle.register(lifecycle.Lifecycle("test_spy", on_consent_withdrawn=react))
    try:
        yield calls
    finally:
        lifecycle.unregister("test_spy")


def upload(user):
    return user.call("POST", "/api/v1/test/uploads")


def test_withdrawing_face_processing_stops_uploads_and_orders_face_data_deleted(user, guarded_app):
    user.accept("face_processing")
    user.call("POST", "/api/v1/me/age", json={"adult_confirmed": True})
    assert upload(user).status_code == 200
    with withdrawals() as withdrawn:
        assert user.call("DELETE", "/api/v1/me/consents/face_processing").status_code == 204
    assert [w["purpose"] for w in withdrawn] == ["face_processing"]
    assert withdrawn[0]["reason"] == "face_processing_consent_withdrawn"
    assert upload(user).get_json()["error"]["code"] == "consent_required"


def test_the_latest_record_of_each_purpose_decides_through_a_long_history(user, guarded_app):
    user.accept("face_processing")
    user.call("POST", "/api/v1/me/age", json={"adult_confirmed": True})
    for _ in range(3):  # given, withdrawn, given again...: only the latest of each purpose counts
        assert user.call("DELETE", "/api/v1/me/consents/face_processing").status_code == 204
        assert upload(user).get_json()["error"]["code"] == "consent_required"
        user.accept("face_processing")
        assert upload(user).status_code == 200
    user.accept("avatar_storage")  # another purpose's records change nothing for this one
    assert user.call("DELETE", "/api/v1/me/consents/avatar_storage").status_code == 204
    assert upload(user).status_code == 200


def test_withdrawing_avatar_storage_reaches_every_registered_domain(user):
    user.accept("avatar_storage")
    with withdrawals() as withdrawn:
        user.call("POST", "/api/v1/me/consents/avatar_storage/withdraw", json={"client": {"app_version": "1.2"}})
    assert [(w["purpose"], w["reason"]) for w in withdrawn] == [("avatar_storage", "avatar_storage_consent_withdrawn")]


def test_withdrawing_twice_records_once(user, gdb):
    user.accept("marketing")
    user.call("DELETE", "/api/v1/me/consents/marketing")
    user.call("DELETE", "/api/v1/me/consents/marketing")
    assert gdb.count(ConsentRecord, ConsentRecord.action == "withdrawn") == 1


def test_under_14_is_blocked_until_a_guardian_consents_and_again_after_withdrawal(user, guarded_app):
    user.accept("face_processing")
    with withdrawals() as deletions:
        minor = user.call("POST", "/api/v1/me/age", json={"birth_year": 2016}).get_json()["data"]
    assert minor == {"declared": True, "minor": True}
    assert [(d["purpose"], d["reason"]) for d in deletions] == [
        ("face_processing", "minor_without_guardian_consent"), ("avatar_storage", "minor_without_guardian_consent")]
    refused = upload(user)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "guardian_consent_required"

    own = user.call("POST", "/api/v1/me/guardian/code", json={"phone": "13811110000"})
    assert own.status_code == 422 and own.get_json()["error"]["code"] == "guardian_phone_is_own"
    assert user.call("POST", "/api/v1/me/guardian/code", json={"phone": "13922223333"}).status_code == 202
    code = sms_code(user.client, "13922223333")
    wrong = user.call("POST", "/api/v1/me/guardian", json={
        "phone": "13922223333", "code": f"{(int(code) + 1) % 10**6:06d}", "relation": "parent",
        "purposes": ["face_processing"], "policy_version": "2024-07-04"})
    assert wrong.get_json()["error"]["code"] == "sms_code_invalid"
    given = user.call("POST", "/api/v1/me/guardian", json={
        "phone": "13922223333", "code": code, "relation": "parent", "purposes": ["face_processing"],
        "policy_version": "2024-07-04"})
    assert given.status_code == 201
    assert given.get_json()["data"]["phone_masked"] == "139****3333"
    assert upload(user).status_code == 200
    state = user.get("/api/v1/me/consents").get_json()["data"]
    assert state["guardian"]["relation"] == "parent" and state["age"]["minor"] is True

    with withdrawals() as deletions:
        assert user.call("DELETE", "/api/v1/me/guardian").status_code == 204
    assert deletions[0]["reason"] == "guardian_consent_withdrawn"
    assert upload(user).get_json()["error"]["code"] == "guardian_consent_required"


def test_an_age_corrected_to_under_14_later_stops_processing(user):
    user.accept("face_processing")
    user.call("POST", "/api/v1/me/age", json={"birth_year": 1990})
    assert upload(user).status_code == 200
    with withdrawals() as deletions:
        user.call("POST", "/api/v1/me/age", json={"birth_year": 2015})
    assert deletions and deletions[0]["reason"] == "minor_without_guardian_consent"
    assert upload(user).get_json()["error"]["code"] == "guardian_consent_required"


def test_the_boundary_year_is_treated_as_a_minor(user, guarded_app):
    from app.core.db import utcnow

    user.accept("face_processing")
    borderline = utcnow().year - 14  # 13 or 14 depending on the birthday: assume 13
    assert user.call("POST", "/api/v1/me/age", json={"birth_year": borderline}).get_json()["data"]["minor"] is True
    assert user.call("POST", "/api/v1/me/age", json={"birth_year": borderline - 1}).get_json()["data"]["minor"] is False


def test_age_needs_a_year_or_a_confirmation(user):
    assert user.call("POST", "/api/v1/me/age", json={}).status_code == 422
    assert user.call("POST", "/api/v1/me/age", json={"birth_year": 1800}).status_code == 422


def test_consent_history_is_append_only_and_cannot_be_rewritten(user, guarded_app, gdb):
    user.accept("marketing")
    user.call("DELETE", "/api/v1/me/consents/marketing")
    before = [(r.id, r.purpose, r.action, r.policy_version_id, r.created_at)
              for r in gdb.run(lambda s: list(s.scalars(select(ConsentRecord).order_by(ConsentRecord.id))))]
    history = user.get("/api/v1/me/consents/history").get_json()["data"]["records"]
    assert [(r["purpose"], r["action"]) for r in history] == [("marketing", "withdrawn"), ("marketing", "given"),
                                                              ("service", "given")]
    # No endpoint edits or deletes history: every write route of the consent API appends or is refused.
    for method in ("PUT", "PATCH", "DELETE"):
        assert user.call(method, "/api/v1/me/consents/history").status_code == 405
    for rule in guarded_app.url_map.iter_rules():
        if rule.endpoint.startswith("consent.") and rule.methods & {"PUT", "PATCH"}:
            raise AssertionError(f"{rule.rule} could rewrite consent records")
    user.accept("marketing")
    after = [(r.id, r.purpose, r.action, r.policy_version_id, r.created_at)
             for r in gdb.run(lambda s: list(s.scalars(select(ConsentRecord).order_by(ConsentRecord.id))))]
    assert after[:len(before)] == before and len(after) == len(before) + 2
    assert gdb.count(GuardianConsent) == 0
