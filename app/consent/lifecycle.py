"""Consent's personal-data lifecycle: the record of the user's choices, age declarations, guardian consents.

The rows go with the account (the database cascades); the consent history is not deletable on its own,
since it proves what the user agreed to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.core.i18n import _l
from app.core.lifecycle import ExportArchive, Holding, Lifecycle, Processing, ts
from app.extensions import db

from .models import AgeDeclaration, ConsentRecord, GuardianConsent
from .purposes import MARKETING, PURPOSES, SERVICE


def holdings(user_id: int) -> list[Holding]:
    count = db.session.scalar(select(func.count()).select_from(ConsentRecord)
                              .where(ConsentRecord.user_id == user_id)) or 0
    return [Holding("consents", count, _l("The history of your choices"))]


def export(user_id: int, archive: ExportArchive) -> None:
    records = db.session.scalars(select(ConsentRecord).where(ConsentRecord.user_id == user_id)
                                 .order_by(ConsentRecord.id))
    ages = db.session.scalars(select(AgeDeclaration).where(AgeDeclaration.user_id == user_id)
                              .order_by(AgeDeclaration.id))
    guardians = db.session.scalars(select(GuardianConsent).where(GuardianConsent.user_id == user_id)
                                   .order_by(GuardianConsent.id))
    consents: dict[str, Any] = {
        "records": [{"purpose": r.purpose, "action": r.action, "policy_version": r.policy_version_id,
                     "channel": r.channel, "client": r.client_info or {}, "by_guardian": r.guardian_consent_id
                     is not None, "at": ts(r.created_at)} for r in records],
        "age_declarations": [{"birth_year": a.birth_year, "adult_confirmed": a.adult_confirmed,
                              "declared_at": ts(a.created_at)} for a in ages],
        "guardian_consents": [{"guardian_phone_masked": g.guardian_phone_masked, "relation": g.relation,
                               "purposes": list(g.purposes), "policy_version": g.policy_version_id,
                               "given_at": ts(g.given_at), "withdrawn_at": ts(g.withdrawn_at)} for g in guardians],
    }
    archive.add_json("consents.json", "consents", consents, records=len(consents["records"]))


def lifecycle() -> Lifecycle:
    return Lifecycle(
        domain="consent", holdings=holdings, export=export,
        processing=(
            Processing("记录您的同意与撤回、年龄声明与监护人同意", PURPOSES[SERVICE].legal_basis
                       + "；履行法定义务（《个人信息保护法》第三十一条）",
                       "同意记录、出生年份、监护人手机号（哈希与掩码）", "直至您注销账号"),
            Processing(PURPOSES[MARKETING].name, PURPOSES[MARKETING].legal_basis, "微信 openid（推送通知）",
                       "撤回同意后停止", consent=MARKETING),
        ))
