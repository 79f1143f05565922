"""Telling users: staff write a notice, choose whom it concerns, send it once through every channel the user
allowed (in-app always, WeChat where subscribed, SMS as fallback), and each delivery is recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.notices.models import Notice, NoticeDelivery
from tests.admin.conftest import audit_entries, error_code
from tests.generation.conftest import upload_ids
from tests.notices.conftest import grant, sms_texts, subscribe_messages, user_id

NOTICES = "/admin/api/notices"
INCIDENT = {"kind": "incident", "title": "安全事件通知", "audience": "all",
            "body": "2026年12月4日，我们发现部分生成结果可能被未授权访问。我们已修复漏洞，建议您检查账号。"}


def create(officer, **changes) -> dict:
    response = officer.post(NOTICES, json={**INCIDENT, **changes})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]


def test_an_incident_notice_reaches_everyone_through_the_channels_they_allowed(
        people, staff, wechat_sandbox, client, run_default_queue, dbx):
    grant(wechat_sandbox, "alice")  # alice allowed the notice template; bob and carol did not
    officer = staff("privacy_officer")
    notice = create(officer)
    assert notice["status"] == "draft" and notice["recipients"] == 0
    assert people["alice"].get("/api/v1/me/notices").get_json()["data"]["notices"] == []  # a draft tells nobody

    sent = officer.post(f"{NOTICES}/{notice['id']}/send")
    assert sent.status_code == 202, sent.get_json()
    assert sent.get_json()["data"]["status"] == "sending"  # the job does the work, not the request
    run_default_queue()
    done = officer.get(f"{NOTICES}/{notice['id']}").get_json()["data"]
    assert done["status"] == "sent" and done["finished_at"]
    assert (done["recipients"], done["done"], done["wechat_sent"], done["sms_sent"]) == (3, 3, 1, 1)

    [message] = subscribe_messages(wechat_sandbox)
    assert message["user"] == "alice" and message["page"] == f"pages/notices/index?id={notice['id']}"
    assert message["data"]["thing1"] == {"value": "安全事件通知"}
    assert len(message["data"]["thing2"]["value"]) <= 20
    assert sms_texts(client, "13811112222") == []  # WeChat reached alice: no SMS on top
    [text] = sms_texts(client, "13933334444")  # carol: not subscribed, phone bound → SMS
    assert text.startswith("【秒画】安全事件通知：2026年12月4日")

    for name in ("alice", "bob", "carol"):  # and everyone sees it in the app on next opening
        inbox = people[name].get("/api/v1/me/notices").get_json()["data"]
        assert inbox["unread"] == 1 and inbox["notices"][0]["id"] == notice["id"], name
        assert inbox["notices"][0]["body"] == INCIDENT["body"] and inbox["notices"][0]["kind"] == "incident"
    read = people["bob"].call("POST", f"/api/v1/me/notices/{notice['id']}/read")
    assert read.status_code == 200 and read.get_json()["data"]["read"] is True
    assert people["bob"].get("/api/v1/me/notices").get_json()["data"]["unread"] == 0

    outcomes = {(d.wechat_status, d.sms_status) for d in dbx.run(
        lambda s: list(s.scalars(select(NoticeDelivery))))}
    assert outcomes == {("sent", "not_needed"), ("not_subscribed", "no_phone"), ("not_subscribed", "sent")}
    assert [e.target_id for e in audit_entries(dbx, "notices.create")] == [notice["id"]]
    [send_entry] = audit_entries(dbx, "notices.send")
    assert send_entry.staff_username == "s_privacy_officer" and send_entry.details["resumed"] is False


def test_sending_the_same_notice_again_tells_nobody_twice(people, staff, wechat_sandbox, client,
                                                           run_default_queue, dbx):
    grant(wechat_sandbox, "alice", count=5)
    officer = staff("privacy_officer")
    notice = create(officer)
    officer.post(f"{NOTICES}/{notice['id']}/send")
    run_default_queue()
    again = officer.post(f"{NOTICES}/{notice['id']}/send")
    assert again.status_code == 202 and again.get_json()["data"]["status"] == "sent"
    run_default_queue()
    assert len(subscribe_messages(wechat_sandbox)) == 1 and len(sms_texts(client, "13933334444")) == 1
    assert len(people["alice"].get("/api/v1/me/notices").get_json()["data"]["notices"]) == 1
    assert dbx.count(NoticeDelivery) == 3
    assert len(audit_entries(dbx, "notices.send")) == 1  # nothing happened the second time


def test_a_crash_mid_send_resumes_without_repeating_a_message(people, staff, client, run_default_queue, dbx,
                                                              monkeypatch):
    from app.notices import channels

    real_send_sms, calls = channels.send_sms, []

    def send_then_crash(notice, uid):
        calls.append(uid)
        real_send_sms(notice, uid)
        raise RuntimeError("the worker died right after the carrier took the message")

    monkeypatch.setattr(channels, "send_sms", send_then_crash)
    officer = staff("privacy_officer")
    notice = create(officer, title="停止运营公告", kind="shutdown", body="秒画将于2027年3月1日停止运营。")
    officer.post(f"{NOTICES}/{notice['id']}/send")
    run_default_queue()  # the job fails at the first SMS (alice: not subscribed, phone bound)
    assert officer.get(f"{NOTICES}/{notice['id']}").get_json()["data"]["status"] == "sending"
    monkeypatch.setattr(channels, "send_sms", real_send_sms)

    resumed = officer.post(f"{NOTICES}/{notice['id']}/send")  # resume: re-queues the same job
    assert resumed.status_code == 202
    run_default_queue()
    done = officer.get(f"{NOTICES}/{notice['id']}").get_json()["data"]
    assert done["status"] == "sent" and done["done"] == 3
    assert len(sms_texts(client, "13811112222")) == 1  # alice got it once, before the crash: not again
    assert len(sms_texts(client, "13933334444")) == 1  # carol after the resume
    alice_delivery = dbx.one(select(NoticeDelivery).order_by(NoticeDelivery.user_id).limit(1))
    assert alice_delivery.sms_status == "unknown"  # the call the crash interrupted is recorded as such
    assert [e.details["resumed"] for e in audit_entries(dbx, "notices.send")] == [False, True]


def test_users_whose_data_of_a_class_existed_in_a_window(people, staff, sample_jpeg, run_default_queue, app,
                                                         monkeypatch):
    monkeypatch.setitem(app.config, "NOTICE_SEND_RATE_LIMIT", "10/hour")
    alice, bob = people["alice"], people["bob"]
    upload_ids(alice, sample_jpeg)  # alice uploads a photo now; bob never did
    now = datetime.now(UTC)
    officer = staff("privacy_officer")
    window = {"audience": "data_class", "data_class": "uploads"}
    inside = create(officer, **window, window_start=(now - timedelta(hours=1)).isoformat(),
                    window_end=(now + timedelta(hours=1)).isoformat())
    before = create(officer, **window, window_start=(now - timedelta(days=3)).isoformat(),
                    window_end=(now - timedelta(days=2)).isoformat())
    phones = create(officer, audience="data_class", data_class="phone", window_start=inside["window_start"],
                    window_end=inside["window_end"])
    listed = create(officer, audience="users", user_ids=[user_id(bob)])
    for notice in (inside, before, phones, listed):
        assert officer.post(f"{NOTICES}/{notice['id']}/send").status_code == 202
    run_default_queue()
    counts = {n["id"]: n["recipients"] for n in officer.get(NOTICES).get_json()["data"]["notices"]}
    assert (counts[inside["id"]], counts[before["id"]], counts[phones["id"]], counts[listed["id"]]) == (1, 0, 2, 1)
    assert [n["id"] for n in alice.get("/api/v1/me/notices").get_json()["data"]["notices"]] == [phones["id"],
                                                                                                inside["id"]]
    assert [n["id"] for n in bob.get("/api/v1/me/notices").get_json()["data"]["notices"]] == [listed["id"]]


def test_bad_notices_are_refused_with_stable_codes(people, staff):
    officer = staff("privacy_officer")
    no_window = officer.post(NOTICES, json={**INCIDENT, "audience": "data_class", "data_class": "orders"})
    assert no_window.status_code == 422 and error_code(no_window) == "validation_error"
    backwards = officer.post(NOTICES, json={**INCIDENT, "audience": "data_class", "data_class": "orders",
                                            "window_start": "2026-12-02T00:00:00+08:00",
                                            "window_end": "2026-12-01T00:00:00+08:00"})
    assert backwards.status_code == 422
    unknown = officer.post(NOTICES, json={**INCIDENT, "audience": "users", "user_ids": ["nobody"]})
    assert unknown.status_code == 422 and error_code(unknown) == "notice_unknown_users"
    assert unknown.get_json()["error"]["details"]["unknown"] == ["nobody"]
    assert officer.post(NOTICES, json={**INCIDENT, "kind": "advert"}).status_code == 422
    assert officer.post(NOTICES, json={**INCIDENT, "title": "x" * 41}).status_code == 422
    missing = officer.post(f"{NOTICES}/nope/send")
    assert missing.status_code == 404 and error_code(missing) == "notice_not_found"
    assert people["bob"].call("POST", "/api/v1/me/notices/nope/read").status_code == 404


def test_only_staff_with_notices_send_may_use_it_and_sending_is_rate_limited(people, staff, anonymous, app,
                                                                            monkeypatch):
    for role in ("support", "finance", "auditor", "admin"):
        response = staff(role).post(NOTICES, json=INCIDENT)
        assert response.status_code == 403 and error_code(response) == "permission_denied", role
    assert anonymous.get(NOTICES).status_code == 401
    officer = staff("privacy_officer")
    monkeypatch.setitem(app.config, "NOTICE_SEND_RATE_LIMIT", "2/hour")
    for _ in range(2):
        assert officer.post(f"{NOTICES}/{create(officer)['id']}/send").status_code == 202
    third = create(officer)
    refused = officer.post(f"{NOTICES}/{third['id']}/send")
    assert refused.status_code == 429 and error_code(refused) == "rate_limited"
    assert officer.get(f"{NOTICES}/{third['id']}").get_json()["data"]["status"] == "draft"


def test_what_a_user_was_told_is_in_their_export_and_goes_with_their_account(people, staff, run_default_queue,
                                                                           app, dbx):
    from app.accounts.models import User
    from app.extensions import db
    from app.notices.lifecycle import notices_of
    from app.privacy import rights

    officer = staff("privacy_officer")
    notice = create(officer, kind="company_transfer", title="公司转让通知",
                    body="秒画业务将转让给新公司，新公司继续履行本政策。")
    officer.post(f"{NOTICES}/{notice['id']}/send")
    run_default_queue()
    bob_id = user_id(people["bob"])
    with app.app_context():
        bob = db.session.scalar(select(User).where(User.public_id == bob_id))
        [told] = notices_of(bob.id)
        assert told["id"] == notice["id"] and told["kind"] == "company_transfer" and told["body"].startswith("秒画业务")
        assert told["wechat"]["status"] == "not_subscribed" and told["sms"]["status"] == "no_phone"
        assert told["recorded_at"].endswith("Z") and len(told["recorded_at_beijing"]) == 16
        rights.cancel_account(bob, reason="test")
    assert dbx.count(NoticeDelivery) == 2  # bob's delivery went with his account
    kept = dbx.one(select(Notice))
    assert kept.recipients == 3  # the notice still proves how many were told


def test_the_cli_writes_and_sends_a_notice_once(people, app, client, run_default_queue, dbx, tmp_path):
    body = tmp_path / "shutdown.md"
    body.write_text("秒画将于2027年3月1日00:00（北京时间）停止运营，请在此之前导出您的数据。", encoding="utf-8")
    runner = app.test_cli_runner()
    created = runner.invoke(args=["notices", "create", "--kind", "shutdown", "--title", "停止运营公告",
                                  "--body-file", str(body), "--audience", "users",
                                  "--user", user_id(people["carol"])])
    assert created.exit_code == 0, created.output
    notice_id = created.output.strip()
    sent = runner.invoke(args=["notices", "send", notice_id])
    assert sent.exit_code == 0 and sent.output.strip() == f"{notice_id}: sending", sent.output
    run_default_queue()
    again = runner.invoke(args=["notices", "send", notice_id])
    assert again.output.strip() == f"{notice_id}: already sent"
    run_default_queue()
    assert len(sms_texts(client, "13933334444")) == 1
    listing = runner.invoke(args=["notices", "list"]).output
    assert notice_id in listing and "recipients=1 done=1" in listing and "sms=1" in listing
    assert [e.staff_username.startswith("cli:") for e in audit_entries(dbx, "notices.send")] == [True]
    bad = runner.invoke(args=["notices", "create", "--kind", "incident", "--title", "t", "--body-file", str(body),
                              "--audience", "data_class", "--data-class", "uploads", "--since", "2026-12-02",
                              "--until", "2026-12-01"])
    assert bad.exit_code != 0 and "validation_error" in bad.output
    window = runner.invoke(args=["notices", "create", "--kind", "incident", "--title", "t", "--body-file", str(body),
                                 "--audience", "data_class", "--data-class", "uploads", "--since", "2026-12-01",
                                 "--until", "2026-12-02"])
    assert window.exit_code == 0, window.output
    stored = dbx.one(select(Notice).where(Notice.public_id == window.output.strip()))
    assert stored.window_start == datetime(2026, 11, 30, 16, tzinfo=UTC)  # 00:00 Beijing time


def test_a_sending_whose_job_died_is_resumed_by_the_periodic_sweep(people, staff, client, run_default_queue, app,
                                                                   monkeypatch):
    from app.notices import channels, services
    from app.ops.periodic import PERIODIC_JOBS

    def crash(notice, uid):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(channels, "send_sms", crash)
    officer = staff("privacy_officer")
    notice = create(officer)
    officer.post(f"{NOTICES}/{notice['id']}/send")
    run_default_queue()  # the job fails
    monkeypatch.undo()  # the channel works again
    with app.app_context():
        assert services.resume_stalled() == 1
        assert services.resume_stalled() == 0  # queued now: not twice
    run_default_queue()
    done = officer.get(f"{NOTICES}/{notice['id']}").get_json()["data"]
    assert done["status"] == "sent" and done["done"] == 3 and len(sms_texts(client, "13933334444")) == 1
    assert "notices.resume" in {job.id for job in PERIODIC_JOBS}
