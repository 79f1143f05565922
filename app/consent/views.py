"""Policy and consent API (thin: parse, call ``services``/``policy``, serialise)."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask_login import current_user

from app.accounts import sms
from app.accounts.auth import login_required
from app.core import chinatime
from app.core.api import API_PREFIX, endpoint
from app.core.pagination import InvalidCursor, PageQuery
from app.core.transaction import transactional

from . import policy, services
from .models import PolicyVersion
from .purposes import PURPOSES
from .schemas import (
    AgeIn,
    AgeOut,
    ClientInfo,
    ConsentHistoryOut,
    ConsentIn,
    ConsentRecordOut,
    ConsentStateOut,
    GuardianCodeIn,
    GuardianConsentIn,
    GuardianOut,
    Operator,
    PolicyOut,
    PolicyStandingOut,
    PolicySummaryOut,
    PolicyVersionsOut,
    ProcessorsOut,
    PurposeOut,
    PurposeStateOut,
    SentOut,
    WithdrawIn,
)

bp = Blueprint("consent", __name__, url_prefix=API_PREFIX)
POLICY_TAGS = ("policy",)
CONSENT_TAGS = ("consent",)
CHANNEL = "miniprogram"


def summary_out(version: PolicyVersion) -> PolicySummaryOut:
    return PolicySummaryOut(id=version.id, title=version.title, effective_at=version.effective_at,
                            effective_date=chinatime.beijing_date(version.effective_at),
                            major=version.major, summary=version.summary,
                            url=url_for("policy_pages.version_page", version_id=version.id))


def policy_out(version: PolicyVersion) -> PolicyOut:
    return PolicyOut(**summary_out(version).model_dump(), text_markdown=version.text_md,
                     operator=Operator(**policy.operator()), processors_url=url_for("policy_pages.processors_page"),
                     purposes=[PurposeOut(**vars(p)) for p in PURPOSES.values()])


def client_info(client: ClientInfo | None) -> dict:
    return client.model_dump(exclude_none=True) if client else {}


@bp.get("/policy/current")
@endpoint("The privacy policy in effect", response=PolicyOut, tags=POLICY_TAGS, errors=[policy.PolicyUnavailable])
def current_policy():
    return policy_out(policy.current())


@bp.get("/policy/versions")
@endpoint("Every published version (the archive), newest first (paged)", query=PageQuery,
          response=PolicyVersionsOut, tags=POLICY_TAGS, errors=[InvalidCursor])
def policy_versions(query: PageQuery):
    versions, next_cursor = policy.versions_page(query)
    return PolicyVersionsOut(versions=[summary_out(v) for v in versions], next_cursor=next_cursor)


@bp.get("/policy/versions/<version_id>")
@endpoint("One version of the policy, with its text", response=PolicyOut, tags=POLICY_TAGS,
          errors={404: ["policy_version_not_found"]})
def policy_version(version_id: str):
    return policy_out(policy.get(version_id))


@bp.get("/policy/processors")
@endpoint("Third-party SDKs and processors (policy §6)", response=ProcessorsOut, tags=POLICY_TAGS)
def policy_processors():
    return ProcessorsOut(processors=policy.processors())


@bp.get("/me/consents")
@login_required
@endpoint("My consent state, policy standing, age and guardian", response=ConsentStateOut, auth=True,
          tags=CONSENT_TAGS, errors=[policy.PolicyUnavailable])
def consent_state():
    user_id = current_user.id
    standing = services.policy_standing(user_id)
    declaration = services.latest_age(user_id)
    guardian = services.active_guardian_consent(user_id)
    return ConsentStateOut(
        purposes=[PurposeStateOut(purpose=s.purpose, given=s.given, policy_version=s.policy_version_id, at=s.at)
                  for s in services.purpose_states(user_id).values()],
        policy=PolicyStandingOut(current_version=standing.current.id, accepted_version=standing.accepted_version_id,
                                 update_required=standing.update_required, notice=standing.notice),
        age=AgeOut(declared=declaration is not None,
                   minor=services.is_minor(declaration) if declaration else None),
        guardian=GuardianOut(phone_masked=guardian.guardian_phone_masked, relation=guardian.relation,
                             purposes=guardian.purposes, given_at=guardian.given_at) if guardian else None,
    )


@bp.post("/me/consents")
@login_required
@endpoint("Give consent to purposes under the current policy version", body=ConsentIn, status=204, auth=True,
          tags=CONSENT_TAGS, errors=[services.ConsentRequired, (409, "stale_policy_version"),
                                     policy.PolicyUnavailable],
          description="Errors: stale_policy_version (409, read the current version first), consent_required.")
@transactional
def give_consent(body: ConsentIn):
    services.give(current_user, list(body.purposes), body.policy_version, CHANNEL, client_info(body.client))


PURPOSE_PATH = f"<any({', '.join(PURPOSES)}):purpose>"


@bp.delete(f"/me/consents/{PURPOSE_PATH}")
@login_required
@endpoint("Withdraw consent for one purpose (effective at once)", status=204, auth=True, tags=CONSENT_TAGS,
          errors=[(400, "unknown_purpose"), (409, "required_purpose")],
          description="`service` cannot be withdrawn (409 required_purpose): cancel instead.")
@transactional
def withdraw_consent(purpose: str):
    services.withdraw(current_user, purpose, CHANNEL, {})


@bp.post(f"/me/consents/{PURPOSE_PATH}/withdraw")
@login_required
@endpoint("Withdraw consent, with client information", body=WithdrawIn, status=204, auth=True,
          tags=CONSENT_TAGS, errors=[(400, "unknown_purpose"), (409, "required_purpose")])
@transactional
def withdraw_consent_with_client(purpose: str, body: WithdrawIn):
    services.withdraw(current_user, purpose, CHANNEL, client_info(body.client))


@bp.get("/me/consents/history")
@login_required
@endpoint("My consent history (append-only), newest first (paged)", query=PageQuery, response=ConsentHistoryOut,
          auth=True, tags=CONSENT_TAGS, errors=[InvalidCursor])
def consent_history(query: PageQuery):
    records, next_cursor = services.history(current_user.id, query)
    return ConsentHistoryOut(records=[
        ConsentRecordOut(purpose=r.purpose, action=r.action, policy_version=r.policy_version_id, channel=r.channel,
                         at=r.created_at, by_guardian=r.guardian_consent_id is not None)
        for r in records
    ], next_cursor=next_cursor)


@bp.post("/me/age")
@login_required
@endpoint("Declare my age (birth year, or 'I am 14 or older')", body=AgeIn, response=AgeOut, auth=True,
          tags=CONSENT_TAGS)
@transactional
def declare_age(body: AgeIn):
    declaration = services.declare_age(current_user, body.birth_year, body.adult_confirmed)
    return AgeOut(declared=True, minor=services.is_minor(declaration))


@bp.post("/me/guardian/code")
@login_required
@endpoint("Send a verification code to my guardian's phone", body=GuardianCodeIn, response=SentOut, status=202,
          auth=True, tags=CONSENT_TAGS, errors=[(422, "guardian_phone_is_own"), 429, sms.SmsUnavailable])
def guardian_code(body: GuardianCodeIn):
    return SentOut(expires_in=services.send_guardian_code(current_user, body.phone))


@bp.post("/me/guardian")
@login_required
@endpoint("Record my guardian's consent (verified by the code sent to their phone)", body=GuardianConsentIn,
          response=GuardianOut, status=201, auth=True, tags=CONSENT_TAGS,
          errors=[sms.SmsCodeInvalid, sms.SmsCodeExpired, (409, "stale_policy_version"), (422, "guardian_phone_is_own"),
                  429, policy.PolicyUnavailable])
@transactional
def guardian_consent(body: GuardianConsentIn):
    consent = services.record_guardian_consent(current_user, body.phone, body.code, body.relation,
                                               list(body.purposes), body.policy_version)
    return GuardianOut(phone_masked=consent.guardian_phone_masked, relation=consent.relation,
                       purposes=consent.purposes, given_at=consent.given_at)


@bp.delete("/me/guardian")
@login_required
@endpoint("Withdraw the guardian's consent", status=204, auth=True, tags=CONSENT_TAGS)
@transactional
def withdraw_guardian():
    services.withdraw_guardian_consent(current_user)
