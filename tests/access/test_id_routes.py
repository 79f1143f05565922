"""Every user API route that takes an id: another user gets 404 and learns nothing, anonymous gets 401.

The routes come from the app's URL map (every ``/api/v1`` rule with a variable), and each must be in
exactly one table below; a new id route makes ``test_every_id_route_is_in_the_table`` fail until it
is added with a way to create the object it names. "Learns nothing" is checked literally: another
user's id answers the same status and the same body (apart from the request id) as an id that never
existed, so ids cannot be probed. The owner's own call is made last, to prove each id was real (a
wrong id would make the 404 trivially true) and that the others' attempts changed nothing.

Staff console routes (``/admin/api``) are not user routes: their permission matrix is tested with
the staff console.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.routing import Rule

from app.core.api import API_PREFIX
from tests.accounts.helpers import Phone
from tests.generation.conftest import run_generation_queue
from tests.privacy.conftest import run_queue
from tests.uploads.conftest import post_photo

# endpoint → the kind of object (made by ``alice_objects``) its variable names. Order matters for the
# owner's final calls: reads first, state changes (cancel, delete, revoke, close) last.
OWNED_BY_THE_CALLER = {
    "uploads.get_upload": "upload",
    "generation.get_job": "job",
    "generation.result_links": "result",
    "orders.get_order": "order",
    "privacy_export.get_export": "export",
    "support.get_ticket": "ticket",
    "generation.share_result": "result",
    "orders.pay_again": "order",
    "orders.sync_order": "order",
    "orders.refund_order": "order",
    "support.add_message": "ticket",
    "notices.mark_read": "notice",
    "generation.cancel_job": "job",
    "orders.cancel_order": "order",
    "support.close_ticket": "ticket",
    "uploads.delete_upload": "spare_upload",
    "accounts.revoke_session": "session",
}
# Valid bodies, so that the id (not the body) is what decides.
BODIES = {"orders.refund_order": {"reason": "不想要了"}, "support.add_message": {"body": "还在吗？"}}
# The variable names part of the caller's own state, not an object that could be someone else's.
OWN_STATE = {"consent.withdraw_consent": "marketing", "consent.withdraw_consent_with_client": "marketing"}
# The signed, expiring token is the credential (WeChat's content check, downloads, shared links): no
# login by design, and anything but a token we signed for that very route is a 404.
CAPABILITY_LINKS = ("uploads.media_for_review", "generation.result_media", "privacy_export.download_export",
                    "generation.shared_media")
PUBLIC = {"consent.policy_version": "the published policy archive", "openapi.docs_assets": "Swagger UI's files"}
DEV_ONLY = {"accounts_dev.sandbox_sms_outbox": "registered only with SMS_PROVIDER=sandbox, which production refuses"}


def id_rules(flask_app: Flask) -> list[Rule]:
    return [rule for rule in flask_app.url_map.iter_rules()
            if rule.rule.startswith(f"{API_PREFIX}/") and rule.arguments]


def methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def path_for(flask_app: Flask, rule: Rule, value: str) -> str:
    (argument,) = rule.arguments
    return flask_app.url_map.bind("localhost").build(rule.endpoint, {argument: value})


def without_request_id(response) -> tuple[int, dict]:
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)
    body.get("error", {}).pop("request_id", None)
    return response.status_code, body


def test_every_id_route_is_in_the_table(app):
    endpoints = {rule.endpoint for rule in id_rules(app)}
    tables = [set(OWNED_BY_THE_CALLER), set(OWN_STATE), set(CAPABILITY_LINKS), set(PUBLIC), set(DEV_ONLY)]
    known = set().union(*tables)
    assert sum(len(t) for t in tables) == len(known), "an endpoint is in two tables"
    assert endpoints - known == set(), "new id routes: say in tests/access/test_id_routes.py who may call them"
    assert known - endpoints == set(), "routes that no longer exist: remove them from the tables"


def bob(client, wechat_sandbox) -> Phone:
    other = Phone(client, wechat_sandbox, user="bob", device_id="device-bob-1")
    wechat_sandbox.set_user("bob", phone="13955556666")
    other.login()
    other.bind_phone()
    other.accept("face_processing")
    assert other.call("POST", "/api/v1/me/age", json={"adult_confirmed": True}).status_code == 200
    return other


def notice_for(app, user_public_id: str) -> str:
    """A notice sent to that user alone (staff write it; the default queue delivers it)."""
    from app.extensions import db
    from app.notices import services

    with app.app_context():
        notice = services.create(services.Draft(kind="incident", title="通知", body="内容", audience="users",
                                                user_ids=(user_public_id,)), None)
        services.send(notice, None, limit_subject="tests")
        db.session.commit()
        public_id = notice.public_id
    run_queue(app, "default")
    return public_id


def alice_objects(alice: Phone, app, sample_jpeg, client, wechat_sandbox) -> dict[str, str]:
    upload_ids = [post_photo(alice, sample_jpeg).get_json()["data"]["id"] for _ in range(3)]
    job = alice.call("POST", "/api/v1/jobs", json={"style": "pop_art", "uploads": [upload_ids[0]]}).get_json()
    run_generation_queue(app)
    queued = alice.call("POST", "/api/v1/jobs", json={"style": "pop_art", "uploads": [upload_ids[1]]}).get_json()
    result_id = alice.get(f"/api/v1/jobs/{job['data']['id']}").get_json()["data"]["results"][0]["id"]
    order = alice.call("POST", "/api/v1/orders", json={"product": "hd_result", "subject": result_id}).get_json()
    export = alice.call("POST", "/api/v1/me/exports").get_json()
    ticket = alice.call("POST", "/api/v1/tickets", json={"category": "other", "subject": "问题",
                                                         "body": "生成的照片在哪里看？"}).get_json()
    second_device = Phone(client, wechat_sandbox, user="alice", device_id="device-alice-2")
    second_device.login()
    sessions = alice.get("/api/v1/me/sessions").get_json()["data"]["sessions"]
    other_session = next(s["id"] for s in sessions if not s["current"])
    notice = notice_for(app, alice.get("/api/v1/me").get_json()["data"]["id"])
    return {"notice": notice, "upload": upload_ids[2], "spare_upload": upload_ids[2], "job": queued["data"]["id"],
            "result": result_id, "order": order["data"]["order"]["order_no"], "export": export["data"]["id"],
            "ticket": ticket["data"]["id"], "session": other_session}


def test_other_users_get_the_same_404_as_for_a_missing_id_and_anonymous_callers_401(
        app, uploader, sample_jpeg, client, wechat_sandbox):
    owned = alice_objects(uploader, app, sample_jpeg, client, wechat_sandbox)
    owned["upload"] = owned["spare_upload"]
    intruder = bob(client, wechat_sandbox)
    rules = {rule.endpoint: rule for rule in id_rules(app)}
    owner_calls: list[Callable[[], None]] = []

    for endpoint, kind in OWNED_BY_THE_CALLER.items():
        rule = rules[endpoint]
        for method in methods(rule):
            theirs, missing = path_for(app, rule, owned[kind]), path_for(app, rule, uuid.uuid4().hex)
            body = BODIES.get(endpoint)
            as_intruder = intruder.call(method, theirs, json=body)
            assert as_intruder.status_code == 404, (endpoint, as_intruder.get_json())
            assert without_request_id(as_intruder) == without_request_id(intruder.call(method, missing, json=body))
            anonymous = client.open(theirs, method=method, json=body)
            assert anonymous.status_code == 401, (endpoint, anonymous.get_json())
            assert anonymous.get_json()["error"]["code"] == "authentication_required"

            def as_owner(method=method, theirs=theirs, body=body, endpoint=endpoint):
                mine = uploader.call(method, theirs, json=body)
                assert mine.status_code != 404 and mine.status_code < 500, (endpoint, mine.get_json())

            owner_calls.append(as_owner)

    for endpoint, value in OWN_STATE.items():
        for method in methods(rules[endpoint]):
            anonymous = client.open(path_for(app, rules[endpoint], value), method=method, json={})
            assert anonymous.status_code == 401, endpoint

    for call in owner_calls:  # the ids were real, and nobody else's attempt changed anything
        call()


@pytest.fixture
def links(app, uploader, sample_jpeg, client):
    """One real token per capability route, and the route it was made for."""
    from app.uploads import content_check
    from app.uploads.models import Upload

    app.config["CONTENT_CHECK_ENABLED"] = True  # a photo under review has a media link for WeChat
    pending = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    app.config["CONTENT_CHECK_ENABLED"] = False
    with app.test_request_context():
        media_link = content_check.media_url(Upload.query.filter_by(public_id=pending).one())
    ready = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    job = uploader.call("POST", "/api/v1/jobs", json={"style": "pop_art", "uploads": [ready]}).get_json()["data"]
    run_generation_queue(app)
    result = uploader.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]["results"][0]["id"]
    preview = uploader.get(f"/api/v1/results/{result}/links").get_json()["data"]["preview_url"]
    shared = uploader.call("POST", f"/api/v1/results/{result}/share").get_json()["data"]["url"]
    export = uploader.call("POST", "/api/v1/me/exports").get_json()["data"]["id"]
    run_queue(app, "default")
    download = uploader.get(f"/api/v1/me/exports/{export}").get_json()["data"]["download_url"]
    return {"uploads.media_for_review": media_link, "generation.result_media": preview,
            "privacy_export.download_export": download, "generation.shared_media": shared}


def test_capability_links_work_without_login_only_for_their_own_route(app, client, links):
    assert set(links) == set(CAPABILITY_LINKS)
    rules = {rule.endpoint: rule for rule in id_rules(app)}
    tokens = {endpoint: url.rstrip("/").rsplit("/", 1)[1] for endpoint, url in links.items()}
    for endpoint, token in tokens.items():
        rule = rules[endpoint]
        assert client.get(path_for(app, rule, token)).status_code == 200, endpoint  # the link is the credential
        forged = [uuid.uuid4().hex, token[:-2] + ("AA" if not token.endswith("AA") else "BB")]
        forged += [other for name, other in tokens.items() if name != endpoint]  # another route's signature
        for value in forged:
            response = client.get(path_for(app, rule, value))
            assert response.status_code in (404, 410) and response.is_json, (endpoint, value, response.status_code)


def test_public_and_development_routes_are_what_the_table_says(app, client):
    rules = {rule.endpoint: rule for rule in id_rules(app)}
    current = client.get("/api/v1/policy/current").get_json()["data"]["id"]
    assert client.get(path_for(app, rules["consent.policy_version"], current)).status_code == 200
    assert client.get(path_for(app, rules["consent.policy_version"], "1999-01-01")).status_code == 404
    assert client.get(path_for(app, rules["openapi.docs_assets"], "swagger-ui.css")).status_code == 200
    from tests.conftest import make_app

    assert "accounts_dev.sandbox_sms_outbox" not in {r.endpoint for r in make_app(SMS_PROVIDER="disabled")
                                                     .url_map.iter_rules()}
