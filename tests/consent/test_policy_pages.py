"""The policy as JSON and as readable pages, with its archive, operator and processor list."""

from tests.consent.conftest import publish

HEADINGS = ["秒画趣拍个人信息保护政策", "一、本政策适用范围", "二、我们如何收集和使用您的个人信息", "八、您的权利",
            "九、我们如何处理儿童的个人信息", "十、本政策的变更和修订", "十一、如何联系我们"]


def test_current_policy_as_json_with_operator_purposes_and_processors(client):
    data = client.get("/api/v1/policy/current").get_json()["data"]
    assert data["id"] == "2024-07-04" and data["major"] is True
    assert data["text_markdown"].startswith("\n# 秒画趣拍个人信息保护政策") or "秒画趣拍" in data["text_markdown"][:40]
    assert data["operator"] == {"name": "上海禹幻科技有限公司", "address": "上海市徐汇区虹梅路 1900 号 6 楼 6-54 单元",
                                "email": "miaohua_server@sensetime.com"}
    assert {p["id"] for p in data["purposes"]} == {"service", "face_processing", "avatar_storage", "marketing"}
    assert all(p["legal_basis"] for p in data["purposes"])
    processors = client.get(data["processors_url"])
    assert processors.status_code == 200 and "微信支付" in processors.get_data(as_text=True)
    assert client.get("/api/v1/policy/processors").get_json()["data"]["processors"]


def test_policy_page_renders_the_chinese_text(client):
    page = client.get("/privacy")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for heading in HEADINGS:
        assert heading in html, heading
    assert "<h2>一、本政策适用范围</h2>" in html
    assert "<strong>本服务</strong>" in html  # bold
    assert "<li>" in html  # lists
    assert "上海禹幻科技有限公司" in html


def test_old_versions_stay_readable_after_a_new_one(app, client):
    publish(app, "2026-12-01", major=True, summary="新增数字分身保存",
            text="# 秒画个人信息保护政策（2026）\n\n## 新章节\n")
    versions = client.get("/api/v1/policy/versions").get_json()["data"]["versions"]
    assert [v["id"] for v in versions] == ["2026-12-01", "2024-07-04"]
    assert client.get("/api/v1/policy/current").get_json()["data"]["id"] == "2026-12-01"
    old = client.get("/privacy/versions/2024-07-04").get_data(as_text=True)
    assert "一、本政策适用范围" in old
    assert "新增数字分身保存" in client.get("/privacy/versions").get_data(as_text=True)
    missing = client.get("/api/v1/policy/versions/1999-01-01")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "policy_version_not_found"


def test_policy_text_is_sanitised(app, client):
    publish(app, "evil", major=False, text="# T\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n")
    html = client.get("/privacy/versions/evil").get_data(as_text=True)
    assert "<script>alert" not in html and "javascript:" not in html


def test_publishing_through_the_cli(app, tmp_path):
    text = tmp_path / "policy.md"
    text.write_text("# 新政策\n\n内容\n", encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["policy", "publish", "2027-01-01", str(text), "--minor", "--summary", "措辞调整"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["policy", "publish", "2027-01-01", str(text), "--minor", "--summary", "x"])
    assert again.exit_code != 0  # a published version is never edited
    assert runner.invoke(args=["policy", "init"]).output.strip() == "a policy is already published"


def test_an_effective_date_means_00_00_beijing_time_and_is_shown_as_the_beijing_date(app, client, tmp_path):
    from datetime import UTC, datetime

    from app.consent.models import PolicyVersion
    from app.extensions import db

    text = tmp_path / "policy.md"
    text.write_text("# 新政策\n\n内容\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["policy", "publish", "2026-10-08", str(text), "--minor",
                                                "--summary", "措辞调整", "--effective", "2026-10-08"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        version = db.session.get(PolicyVersion, "2026-10-08")
        assert version.effective_at == datetime(2026, 10, 7, 16, tzinfo=UTC)  # not 08:00 in Beijing
        initial = db.session.get(PolicyVersion, "2024-07-04")
        assert initial.effective_at == datetime(2024, 7, 3, 16, tzinfo=UTC)
    assert "生效 2026-10-08" in client.get("/privacy/versions").get_data(as_text=True)
    assert "生效日期 2026-10-08" in client.get("/privacy/versions/2026-10-08").get_data(as_text=True)
    listed = client.get("/api/v1/policy/versions").get_json()["data"]["versions"]
    assert {v["id"]: v["effective_date"] for v in listed}["2026-10-08"] == "2026-10-08"


def test_the_processing_register_lists_every_purpose_with_and_without_consent(client):
    page = client.get("/privacy/register")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for header in ("处理目的", "法律依据", "个人信息种类", "保存期限", "受托方 / 第三方"):
        assert f"<th>{header}</th>" in html, header
    for purpose in ("注册、登录与账号管理", "风险控制与账号安全", "安全日志", "工作人员访问审计日志",
                    "下单、支付与退款；订单依法保存", "生成图片、视频与数字分身", "保存数字分身", "客服及争议处理"):
        assert f"<td>{purpose}</td>" in html, purpose
    assert "无需同意（见政策第三节）" in html and "《电子商务法》第三十一条" in html
    assert "财付通支付科技有限公司" in html  # the processors
    assert 'href="/privacy/processors"' in html


def test_the_policy_links_its_sdk_list_to_the_processors_page(client):
    html = client.get("/privacy").get_data(as_text=True)
    assert 'href="#"' not in html
    assert '<a href="/privacy/processors" rel="noopener noreferrer">点击此处</a>' in html
    assert 'href="/privacy/register"' in html  # the register sits beside the policy pages
