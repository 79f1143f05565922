"""Readable HTML pages of the policy, its archive and the processor list (linked from §6 and §10)."""

from __future__ import annotations

from flask import Blueprint, render_template_string, url_for

from app.core.chinatime import beijing_date

from . import policy

bp = Blueprint("policy_pages", __name__)

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>body{max-width:46rem;margin:2rem auto;padding:0 1rem;font:16px/1.7 -apple-system,"PingFang SC",
"Microsoft YaHei",sans-serif;color:#222}h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2rem}
.meta{color:#666;font-size:.9rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem}
nav a{margin-right:1rem}</style></head><body>
<nav><a href="{{ url_for('policy_pages.current_page') }}">现行版本</a>
<a href="{{ url_for('policy_pages.archive_page') }}">历史版本</a>
<a href="{{ url_for('policy_pages.processors_page') }}">第三方 SDK 与合作方</a>
<a href="{{ url_for('policy_pages.ai_labels_page') }}">AI 生成内容标识</a>
<a href="{{ url_for('policy_pages.register_page') }}">个人信息处理活动登记</a></nav>
{{ body|safe }}
<hr><p class="meta">运营者：{{ operator.name }}，{{ operator.address }}，联系邮箱 {{ operator.email }}</p>
</body></html>"""


def _render(title: str, body: str):
    return render_template_string(_PAGE, title=title, body=body, operator=policy.operator())


def _version_body(version) -> str:
    meta = render_template_string(
        '<p class="meta">版本 {{ v.id }} · 生效日期 {{ beijing_date(v.effective_at) }}'
        '{% if v.major %} · 重大变更{% endif %}'
        '{% if v.summary %} · 变更摘要：{{ v.summary }}{% endif %}</p>', v=version, beijing_date=beijing_date)
    # The policy text links the SDK / processor list as "#" (the link target is this deployment's page).
    html = policy.render_html(version.text_md).replace('href="#"', f'href="{url_for("policy_pages.processors_page")}"')
    return meta + html


@bp.get("/privacy")
def current_page():
    version = policy.current()
    return _render(version.title, _version_body(version))


@bp.get("/privacy/versions/<version_id>")
def version_page(version_id: str):
    version = policy.get(version_id)
    return _render(f"{version.title}（{version.id}）", _version_body(version))


_ARCHIVE = """<h1>个人信息保护政策历史版本</h1><ul>{% for v in versions %}<li>
<a href="{{ url_for('policy_pages.version_page', version_id=v.id) }}">{{ v.id }}</a>
生效 {{ beijing_date(v.effective_at) }}{% if v.major %}（重大变更）{% endif %} {{ v.summary }}</li>{% endfor %}</ul>"""

_PROCESSORS = """<h1>第三方 SDK 与合作方清单</h1><table>
<tr><th>名称</th><th>公司</th><th>目的</th><th>信息</th><th>隐私政策</th></tr>
{% for p in processors %}<tr><td>{{ p.name }}</td><td>{{ p.company }}</td><td>{{ p.purpose }}</td>
<td>{{ p.data }}</td><td><a href="{{ p.policy }}">链接</a></td></tr>{% endfor %}</table>"""


@bp.get("/privacy/versions")
def archive_page():
    return _render("历史版本", render_template_string(_ARCHIVE, versions=policy.all_versions(),
                                                      beijing_date=beijing_date))


@bp.get("/privacy/processors")
def processors_page():
    return _render("第三方 SDK 与合作方清单", render_template_string(_PROCESSORS, processors=policy.processors()))


@bp.get("/privacy/ai-labels")
def ai_labels_page():
    """How generated files are labelled (GB 45438-2025 asks the user agreement to explain the labels' method and
    style); a standing notice beside the versioned policy, from ``policy_texts/aigc-labels.zh.md``."""
    text = (policy.POLICY_TEXTS / "aigc-labels.zh.md").read_text(encoding="utf-8")
    return _render("人工智能生成内容标识说明", policy.render_html(text))


_REGISTER = """<h1>个人信息处理活动登记</h1>
<p>我们处理个人信息的全部目的，包括依法无需征得同意的目的（政策第三节），以及各自的法律依据、信息种类、保存期限和受托方。
受托方与第三方 SDK 的详细信息见<a href="{{ url_for('policy_pages.processors_page') }}">第三方 SDK 与合作方清单</a>。</p>
<table><tr>{% for _, title in columns %}<th>{{ title }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for key, _ in columns %}<td>{{ row[key] }}</td>{% endfor %}</tr>{% endfor %}</table>"""


@bp.get("/privacy/register")
def register_page():
    from app.privacy.register import COLUMNS, register_rows

    return _render("个人信息处理活动登记", render_template_string(_REGISTER, columns=COLUMNS, rows=register_rows()))
