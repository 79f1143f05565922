"""Consent rules: give, withdraw, derive the current state, age and guardian consent.

The history is append-only; the state of a purpose is its latest record. A user has accepted the
policy when their latest ``service`` consent names a version at or after the latest *major*
version; a newer *minor* version is only a notice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from app.accounts import phones, risk, sms
from app.core import lifecycle
from app.core.db import UTCDateTime, utcnow
from app.core.errors import ApiError, Conflict, Forbidden, ValidationFailed
from app.core.i18n import _l
from app.core.pagination import PageQuery, paginate
from app.extensions import db

from . import policy
from . import standing as standing_cache
from .models import AgeDeclaration, ConsentRecord, GuardianConsent, PolicyVersion
from .purposes import AVATAR_STORAGE, FACE_PROCESSING, PURPOSES, SERVICE

if TYPE_CHECKING:
    from app.accounts.models import User

log = logging.getLogger(__name__)

GIVEN, WITHDRAWN = "given", "withdrawn"
GUARDIAN_SMS_PURPOSE = "guardian"
FACE_PURPOSES = (FACE_PROCESSING, AVATAR_STORAGE)  # a minor without a guardian's consent loses both


class ConsentRequired(Forbidden):
    code, message = "consent_required", "Please agree to how we use your information for this feature."


class PolicyUpdateRequired(Forbidden):
    code, message = "policy_update_required", "Our privacy policy changed; please read and accept it to continue."


class AgeDeclarationRequired(Forbidden):
    code, message = "age_declaration_required", "Please tell us your age first."


class GuardianConsentRequired(Forbidden):
    code, message = "guardian_consent_required", "Users under 14 need a parent or guardian's consent first."


@dataclass(frozen=True)
class PurposeState:
    purpose: str
    given: bool
    policy_version_id: str | None
    at: datetime | None


# The newest record of each purpose of one user: bounded by the number of purposes however long the history
# grows (every give and withdraw adds a record). Built once: the guard on uploads and jobs runs it (issue #20).
_records = ConsentRecord.__table__
_LATEST_IDS = (select(func.max(_records.c.id)).where(_records.c.user_id == bindparam("user_id"))
               .group_by(_records.c.purpose))
_LATEST_RECORDS = select(ConsentRecord).where(ConsentRecord.id.in_(_LATEST_IDS))
_GIVEN_PURPOSES = select(_records.c.purpose).where(_records.c.id.in_(_LATEST_IDS), _records.c.action == GIVEN)
# The same, each row with the user's latest age declaration (NULLs: none), for the face-processing guard: one
# statement where it was two (issue #20: the upload's SQL). No row at all: no purpose given.
_ages = AgeDeclaration.__table__
_LATEST_AGE_ID = (select(_ages.c.id).where(_ages.c.user_id == bindparam("user_id")).order_by(_ages.c.id.desc())
                  .limit(1).scalar_subquery())
_GIVEN_PURPOSES_AND_AGE = (select(_records.c.purpose, _ages.c.id.label("age_id"), _ages.c.birth_year,
                                  _ages.c.adult_confirmed)
                           .select_from(_records).outerjoin(_ages, _ages.c.id == _LATEST_AGE_ID)
                           .where(_records.c.id.in_(_LATEST_IDS), _records.c.action == GIVEN))


def latest_records(user_id: int) -> dict[str, ConsentRecord]:
    return {record.purpose: record for record in db.session.scalars(_LATEST_RECORDS, {"user_id": user_id})}


def given_purposes(user_id: int) -> set[str]:
    """The purposes the user has consented to now (their latest record for each is "given"); no ORM objects."""
    return set(db.session.connection().execute(_GIVEN_PURPOSES, {"user_id": user_id}).scalars())


def purpose_states(user_id: int) -> dict[str, PurposeState]:
    latest = latest_records(user_id)
    states = {}
    for purpose in PURPOSES:
        record = latest.get(purpose)
        states[purpose] = PurposeState(purpose, bool(record and record.action == GIVEN),
                                       record.policy_version_id if record else None,
                                       record.created_at if record else None)
    return states


@dataclass(frozen=True)
class PolicyStanding:
    accepted_version_id: str | None
    current: PolicyVersion
    update_required: bool
    notice: bool  # a newer minor version the user has not seen yet


def policy_standing(user_id: int, latest: dict[str, ConsentRecord] | None = None) -> PolicyStanding:
    latest = latest if latest is not None else latest_records(user_id)
    current = policy.current()
    record = latest.get(SERVICE)
    accepted = record.policy_version if record and record.action == GIVEN else None
    accepted_sequence = accepted.sequence if accepted else 0
    return PolicyStanding(
        accepted_version_id=accepted.id if accepted else None, current=current,
        update_required=accepted is not None and accepted_sequence < policy.latest_major_sequence(),
        notice=accepted is not None and accepted_sequence < current.sequence,
    )


def give(user: User, purposes: list[str], version_id: str, channel: str, client_info: dict) -> None:
    current = policy.current()
    if version_id != current.id:
        raise Conflict("Accept the current version of the policy.", code="stale_policy_version",
                       details={"current_version": current.id})
    unknown = [p for p in purposes if p not in PURPOSES]
    if unknown:
        raise ValidationFailed(details={"fields": [{"field": "purposes", "location": "body", "type": "unknown_purpose",
                                                    "message": _l("Unknown purposes: %(purposes)s",
                                                                   purposes=", ".join(unknown))}]})
    latest = latest_records(user.id)
    if SERVICE not in purposes and not (latest.get(SERVICE) and latest[SERVICE].action == GIVEN):
        raise ConsentRequired("Accept the basic service terms first.", details={"missing": [SERVICE]})
    for purpose in dict.fromkeys(purposes):
        db.session.add(ConsentRecord(user_id=user.id, purpose=purpose, action=GIVEN, policy_version_id=current.id,
                                     channel=channel, client_info=client_info))


def withdraw(user: User, purpose: str, channel: str, client_info: dict) -> None:
    if purpose not in PURPOSES:
        raise ApiError("No such purpose.", code="unknown_purpose")
    if PURPOSES[purpose].required:
        raise Conflict("The basic service cannot work without this; cancel the account instead.",
                       code="required_purpose", details={"purpose": purpose})
    state = purpose_states(user.id)[purpose]
    if not state.given:
        return  # withdrawing what is not given changes nothing (and records nothing)
    db.session.add(ConsentRecord(user_id=user.id, purpose=purpose, action=WITHDRAWN,
                                 policy_version_id=policy.current().id, channel=channel, client_info=client_info))
    # Every domain holding data for this purpose reacts, in this transaction (app.core.lifecycle).
    lifecycle.consent_withdrawn(user.id, [purpose], reason=f"{purpose}_consent_withdrawn")


def history(user_id: int, page: PageQuery) -> tuple[list[ConsentRecord], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(ConsentRecord).where(ConsentRecord.user_id == user_id), page, ConsentRecord.id.desc())


# --- age and guardians ---------------------------------------------------------------------------

def latest_age(user_id: int) -> AgeDeclaration | None:
    return db.session.scalar(select(AgeDeclaration).where(AgeDeclaration.id == _LATEST_AGE_ID), {"user_id": user_id})


def is_minor(declaration: AgeDeclaration) -> bool:
    """With only a birth year, someone born in year B is Y-B or Y-B-1 years old: assume the younger."""
    if declaration.birth_year is None:
        return not declaration.adult_confirmed
    return utcnow().year - declaration.birth_year - 1 < current_app.config["MINOR_AGE"]


def active_guardian_consent(user_id: int) -> GuardianConsent | None:
    return db.session.scalar(select(GuardianConsent).where(GuardianConsent.user_id == user_id,
                                                           GuardianConsent.withdrawn_at.is_(None))
                             .order_by(GuardianConsent.id.desc()).limit(1))


def declare_age(user: User, birth_year: int | None, adult_confirmed: bool) -> AgeDeclaration:
    declaration = AgeDeclaration(user_id=user.id, birth_year=birth_year, adult_confirmed=adult_confirmed)
    db.session.add(declaration)
    db.session.flush()
    if is_minor(declaration) and active_guardian_consent(user.id) is None:
        # A child's face data may only be processed with a guardian's consent: stop and delete (§9).
        lifecycle.consent_withdrawn(user.id, FACE_PURPOSES, reason="minor_without_guardian_consent")
    return declaration


def send_guardian_code(user: User, guardian_phone: str) -> int:
    _refuse_own_phone(user, guardian_phone)
    phone_key = phones.phone_hash(guardian_phone)
    risk.limit_sms_send(phone_key, None)
    code, ttl = sms.issue_code(phone_key, GUARDIAN_SMS_PURPOSE)
    db.session.commit()  # the code is stored before the SMS goes out (a message for a lost row is useless)
    sms.deliver(guardian_phone, code, ttl)
    return ttl


def record_guardian_consent(user: User, guardian_phone: str, code: str, relation: str, purposes: list[str],
                            version_id: str) -> GuardianConsent:
    _refuse_own_phone(user, guardian_phone)
    current = policy.current()
    if version_id != current.id:
        raise Conflict("Accept the current version of the policy.", code="stale_policy_version",
                       details={"current_version": current.id})
    phone_key = phones.phone_hash(guardian_phone)
    risk.limit_sms_verify(phone_key)
    sms.verify_code(phone_key, GUARDIAN_SMS_PURPOSE, code)
    consent = GuardianConsent(user_id=user.id, guardian_phone_hash=phone_key,
                              guardian_phone_masked=phones.mask(guardian_phone), relation=relation,
                              purposes=sorted(set(purposes)), policy_version_id=current.id)
    db.session.add(consent)
    db.session.flush()
    for purpose in consent.purposes:
        db.session.add(ConsentRecord(user_id=user.id, purpose=purpose, action=GIVEN, policy_version_id=current.id,
                                     channel="guardian", client_info={"relation": relation},
                                     guardian_consent_id=consent.id))
    return consent


def withdraw_guardian_consent(user: User) -> bool:
    consent = active_guardian_consent(user.id)
    if consent is None:
        return False
    consent.withdrawn_at = utcnow()
    declaration = latest_age(user.id)
    if declaration is not None and is_minor(declaration):
        lifecycle.consent_withdrawn(user.id, FACE_PURPOSES, reason="guardian_consent_withdrawn")
    return True


def _refuse_own_phone(user: User, guardian_phone: str) -> None:
    if user.phone_hash and user.phone_hash == phones.phone_hash(guardian_phone):
        raise ValidationFailed("The guardian's phone must not be your own.", code="guardian_phone_is_own",
                               details={"fields": [{"field": "phone", "location": "body", "type": "own_phone",
                                                    "message": "must be the guardian's phone"}]})


# --- what an endpoint needs ------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceStanding:
    """The user's accepted ``service`` version against the versions in effect: what the global guard needs."""

    accepted_sequence: int  # the sequence of the version the user's latest service consent names
    current_sequence: int | None  # the newest version in effect; None when none is
    latest_major_sequence: int  # the newest major version in effect; 0 when none is

    @property
    def update_required(self) -> bool:
        return self.accepted_sequence < self.latest_major_sequence

    @property
    def notice(self) -> bool:
        return self.current_sequence is not None and self.accepted_sequence < self.current_sequence


# The guard runs on almost every API request (job polling is most of the traffic), so its question is one
# statement built once: the latest service record (the (user_id, purpose, id) index), the version it
# accepted, and the two sequences in effect as uncorrelated subqueries. No row: no service record at all.
# An accepted answer is then kept in Redis until something it depends on changes (``standing.py``).
_NOW = bindparam("now", type_=UTCDateTime())
_ACCEPTED = aliased(PolicyVersion, name="accepted_version")
_CURRENT_SEQUENCE = (select(func.max(PolicyVersion.sequence)).where(PolicyVersion.effective_at <= _NOW)
                     .correlate(None).scalar_subquery())
_MAJOR_SEQUENCE = (select(func.max(PolicyVersion.sequence))
                   .where(PolicyVersion.major.is_(True), PolicyVersion.effective_at <= _NOW)
                   .correlate(None).scalar_subquery())
_NEXT_EFFECTIVE = (select(func.min(PolicyVersion.effective_at)).where(PolicyVersion.effective_at > _NOW)
                   .correlate(None).scalar_subquery())  # until when a cached answer holds (standing.py)
_SERVICE_STANDING = (select(ConsentRecord.action, _ACCEPTED.sequence, _CURRENT_SEQUENCE, _MAJOR_SEQUENCE,
                            _NEXT_EFFECTIVE)
                     .join(_ACCEPTED, _ACCEPTED.id == ConsentRecord.policy_version_id)
                     .where(ConsentRecord.user_id == bindparam("user_id"), ConsentRecord.purpose == SERVICE)
                     .order_by(ConsentRecord.id.desc()).limit(1))


def check_policy_accepted(user: User) -> ServiceStanding:
    """The global check: the service terms, at or after the latest major policy version (one query).

    Returns the standing (the guard announces a newer minor version from it); the errors' details read
    the current version again, which only refused requests pay for.
    """
    hit = standing_cache.cached(user.id)  # a poll that changed nothing asks no database (standing.py)
    if hit is not None:
        return ServiceStanding(*hit)
    read_epochs = standing_cache.epochs(user.id)  # before the query: a change committed after it renews them
    now = utcnow()
    row = db.session.execute(_SERVICE_STANDING, {"user_id": user.id, "now": now}).first()
    if row is None or row.action != GIVEN:
        raise ConsentRequired(details={"missing": [SERVICE], "policy_version": policy.current().id})
    _action, accepted_sequence, current_sequence, major_sequence, next_effective = row
    if current_sequence is None:
        raise policy.PolicyUnavailable()
    standing = ServiceStanding(accepted_sequence, current_sequence, major_sequence or 0)
    if standing.update_required:
        current = policy.current()
        raise PolicyUpdateRequired(details={"policy_version": current.id, "summary": current.summary})
    standing_cache.remember(user.id, read_epochs, (accepted_sequence, current_sequence, major_sequence or 0),
                            now, next_effective)
    return standing


def check_purposes(user: User, purposes: tuple[str, ...]) -> None:
    declaration = None  # the latest age declaration (birth_year, adult_confirmed), read with the purposes
    if FACE_PROCESSING in purposes or AVATAR_STORAGE in purposes:
        rows = db.session.connection().execute(_GIVEN_PURPOSES_AND_AGE, {"user_id": user.id}).all()
        given = {row.purpose for row in rows}
        declaration = rows[0] if rows and rows[0].age_id is not None else None
    else:
        given = given_purposes(user.id)
    missing = [p for p in purposes if p not in given]
    if missing:
        raise ConsentRequired(details={"missing": missing, "policy_version": policy.current().id})
    if FACE_PROCESSING in purposes:
        if declaration is None:
            raise AgeDeclarationRequired()
        if is_minor(declaration):
            guardian = active_guardian_consent(user.id)
            if guardian is None or FACE_PROCESSING not in guardian.purposes:
                raise GuardianConsentRequired()
    # a minor's avatar is kept only if the guardian agreed to that too
    if AVATAR_STORAGE in purposes and declaration is not None and is_minor(declaration):
        guardian = active_guardian_consent(user.id)
        if guardian is None or AVATAR_STORAGE not in guardian.purposes:
            raise GuardianConsentRequired()
