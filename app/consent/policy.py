"""Policy versions: publish, look up, render. The archive of every version stays readable (§10)."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import markdown
import nh3
from flask import current_app
from sqlalchemy import func, select

from app.core import chinatime
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, ServiceUnavailable
from app.core.i18n import _l
from app.core.pagination import PageQuery, paginate
from app.extensions import db

from .models import PolicyVersion

POLICY_TEXTS = Path(__file__).parent / "policy_texts"
INITIAL_VERSION_ID = "2024-07-04"
_VERSION_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_ALLOWED_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "strong", "em", "ul", "ol", "li", "a", "br", "hr",
                 "blockquote", "table", "thead", "tbody", "tr", "th", "td", "code"}


class PolicyUnavailable(ServiceUnavailable):
    code, message = "policy_unavailable", "No privacy policy is published yet."


def publish(version_id: str, text_md: str, *, major: bool, summary: str, effective_at: datetime,
            title: str | None = None) -> PolicyVersion:
    """Add a version (never edits one: published text is what users agreed to)."""
    if not _VERSION_ID.match(version_id):
        raise ValueError("version id: 1-32 characters of letters, digits, '.', '_' or '-'")
    if db.session.get(PolicyVersion, version_id) is not None:
        raise Conflict(_l("Policy version %(version)s exists; publish a new id.", version=version_id),
                       code="policy_version_exists")
    sequence = (db.session.scalar(select(func.max(PolicyVersion.sequence))) or 0) + 1
    first_heading = next((line.lstrip("# ").strip() for line in text_md.splitlines() if line.startswith("# ")), None)
    version = PolicyVersion(id=version_id, sequence=sequence, title=title or first_heading or "个人信息保护政策",
                            effective_at=effective_at, published_at=utcnow(), major=major, summary=summary,
                            text_md=text_md)
    db.session.add(version)
    db.session.commit()
    return version


def ensure_initial_version() -> PolicyVersion | None:
    """Publish the policy shipped with the code as the first version, once (idempotent)."""
    if db.session.scalar(select(PolicyVersion.id).limit(1)) is not None:
        return None
    text = (POLICY_TEXTS / f"{INITIAL_VERSION_ID}.zh.md").read_text(encoding="utf-8")
    return publish(INITIAL_VERSION_ID, text, major=True, summary="首个版本。",
                   effective_at=effective_at_for(date.fromisoformat(INITIAL_VERSION_ID)))


def effective_at_for(day: date) -> datetime:
    """A version announced for a date takes effect at 00:00 Beijing time that day (16:00 UTC the day before)."""
    return chinatime.beijing_midnight(day)


def current() -> PolicyVersion:
    """The newest version already in effect."""
    version = db.session.scalar(select(PolicyVersion).where(PolicyVersion.effective_at <= utcnow())
                                .order_by(PolicyVersion.sequence.desc()).limit(1))
    if version is None:
        raise PolicyUnavailable()
    return version


def latest_major_sequence() -> int:
    return db.session.scalar(select(func.max(PolicyVersion.sequence)).where(
        PolicyVersion.major.is_(True), PolicyVersion.effective_at <= utcnow())) or 0


def get(version_id: str) -> PolicyVersion:
    version = db.session.get(PolicyVersion, version_id)
    if version is None:
        raise NotFound("No such policy version.", code="policy_version_not_found")
    return version


def versions_page(page: PageQuery) -> tuple[list[PolicyVersion], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(PolicyVersion), page, PolicyVersion.sequence.desc(), PolicyVersion.id.desc())


def all_versions() -> list[PolicyVersion]:
    return list(db.session.scalars(select(PolicyVersion).order_by(PolicyVersion.sequence.desc())))


def render_html(text_md: str) -> str:
    """Markdown → sanitised HTML (headings, bold, lists, links)."""
    html = markdown.markdown(text_md, extensions=["tables", "sane_lists"], output_format="html")
    return nh3.clean(html, tags=_ALLOWED_TAGS, attributes={"a": {"href"}},
                     url_schemes={"http", "https", "mailto"})


def operator() -> dict[str, str]:
    config = current_app.config
    return {"name": config["OPERATOR_NAME"], "address": config["OPERATOR_ADDRESS"], "email": config["OPERATOR_EMAIL"]}


def processors() -> list[dict[str, str]]:
    return current_app.config["PROCESSORS"]
