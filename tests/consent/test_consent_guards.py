"""Who may pass: the accepted policy, per-purpose consent, major and minor policy updates."""

import pytest

from app.consent.guards import is_exempt
from tests.consent.conftest import publish


def error_code(response):
    return response.get_json()["error"]["code"]


def test_first_login_must_accept_the_service_terms(user):
    response = user.get("/api/v1/test/gallery")
    assert response.status_code == 403 and error_code(response) == "consent_required"
    assert response.get_json()["error"]["details"]["missing"] == ["service"]
    assert user.get("/api/v1/me").status_code == 200  # profile is reachable before accepting
    user.accept()
    assert user.get("/api/v1/test/gallery").status_code == 200


def test_upload_without_face_processing_consent_is_refused(user):
    user.accept()
    refused = user.call("POST", "/api/v1/test/uploads")
    assert refused.status_code == 403 and error_code(refused) == "consent_required"
    assert refused.get_json()["error"]["details"]["missing"] == ["face_processing"]
    user.accept("face_processing")
    needs_age = user.call("POST", "/api/v1/test/uploads")
    assert error_code(needs_age) == "age_declaration_required"
    assert user.call("POST", "/api/v1/me/age", json={"adult_confirmed": True}).status_code == 200
    assert user.call("POST", "/api/v1/test/uploads").status_code == 200


def test_consent_must_name_the_current_version(user, guarded_app):
    user.accept()
    publish(guarded_app, "2026-11-01", major=False)
    stale = user.call("POST", "/api/v1/me/consents", json={"policy_version": "2024-07-04", "purposes": ["marketing"]})
    assert stale.status_code == 409 and error_code(stale) == "stale_policy_version"
    assert stale.get_json()["error"]["details"]["current_version"] == "2026-11-01"


def test_a_major_version_blocks_every_non_exempt_endpoint_until_accepted(user, guarded_app):
    user.accept("face_processing")
    user.call("POST", "/api/v1/me/age", json={"adult_confirmed": True})
    publish(guarded_app, "2026-12-01", major=True, summary="新增数字分身保存")
    checked = 0
    for rule in guarded_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or "<" in rule.rule:
            continue
        if is_exempt(rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None):
            continue  # auth, profile, sessions, policy, consent, rights: reachable to accept the update
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = user.call(method, rule.rule, json={})
            assert response.status_code == 403, (method, rule.rule)
            assert error_code(response) == "policy_update_required"
            assert response.get_json()["error"]["details"]["policy_version"] == "2026-12-01"
            checked += 1
    assert checked >= 2  # the stand-in feature endpoints; real features join as they land
    state = user.get("/api/v1/me/consents").get_json()["data"]["policy"]
    assert state == {"current_version": "2026-12-01", "accepted_version": "2024-07-04",
                     "update_required": True, "notice": True}
    user.accept(version="2026-12-01")
    assert user.get("/api/v1/test/gallery").status_code == 200
    assert user.call("POST", "/api/v1/test/uploads").status_code == 200  # face consent given earlier still holds


def test_a_minor_version_is_only_a_notice(user, guarded_app):
    user.accept()
    publish(guarded_app, "2026-11-15", major=False, summary="更正错别字")
    response = user.get("/api/v1/test/gallery")
    assert response.status_code == 200
    assert response.headers["X-Policy-Notice"] == "minor-update"
    assert user.get("/api/v1/me/consents").get_json()["data"]["policy"]["notice"] is True
    user.accept(version="2026-11-15")
    assert "X-Policy-Notice" not in user.get("/api/v1/test/gallery").headers


@pytest.mark.parametrize("purpose", ["face_processing", "avatar_storage", "marketing"])
def test_optional_purposes_can_be_given_and_withdrawn(user, purpose):
    user.accept(purpose)
    purposes = {p["purpose"]: p for p in user.get("/api/v1/me/consents").get_json()["data"]["purposes"]}
    assert purposes[purpose]["given"] is True and purposes[purpose]["policy_version"] == "2024-07-04"
    assert user.call("DELETE", f"/api/v1/me/consents/{purpose}").status_code == 204
    purposes = {p["purpose"]: p for p in user.get("/api/v1/me/consents").get_json()["data"]["purposes"]}
    assert purposes[purpose]["given"] is False


def test_the_service_purpose_cannot_be_withdrawn_only_the_account_cancelled(user):
    user.accept()
    response = user.call("DELETE", "/api/v1/me/consents/service")
    assert response.status_code == 409 and error_code(response) == "required_purpose"


def test_unknown_purposes_are_refused(user):
    response = user.call("POST", "/api/v1/me/consents", json={"policy_version": "2024-07-04",
                                                              "purposes": ["service", "selling_data"]})
    assert response.status_code == 422
    assert user.call("DELETE", "/api/v1/me/consents/selling_data").status_code == 404
