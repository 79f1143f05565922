from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from app.accounts.schemas import StrictModel, _check_phone
from app.consent.purposes import PURPOSES
from app.core.i18n import N_
from app.core.pagination import PageOut

PurposeId = Literal["service", "face_processing", "avatar_storage", "marketing"]
assert set(PurposeId.__args__) == set(PURPOSES)  # type: ignore[attr-defined]


class Operator(BaseModel):
    name: str
    address: str
    email: str


class PurposeOut(BaseModel):
    id: str
    name: str
    description: str
    legal_basis: str
    required: bool
    separate: bool


class PolicySummaryOut(BaseModel):
    id: str
    title: str
    effective_at: datetime
    effective_date: date = Field(description="The day it takes effect, in Beijing (from 00:00 Beijing time)")
    major: bool
    summary: str
    url: str


class PolicyOut(PolicySummaryOut):
    text_markdown: str
    operator: Operator
    processors_url: str
    purposes: list[PurposeOut]


class PolicyVersionsOut(PageOut):
    versions: list[PolicySummaryOut]


class ProcessorsOut(BaseModel):
    processors: list[dict[str, str]]


class ClientInfo(StrictModel):
    app_version: str | None = Field(default=None, max_length=32)
    device_model: str | None = Field(default=None, max_length=64)


class ConsentIn(StrictModel):
    policy_version: str = Field(max_length=32, description="The version the user read (must be current)")
    purposes: list[PurposeId] = Field(min_length=1, max_length=4)
    client: ClientInfo | None = None


class WithdrawIn(StrictModel):
    client: ClientInfo | None = None


class PurposeStateOut(BaseModel):
    purpose: str
    given: bool
    policy_version: str | None
    at: datetime | None


class PolicyStandingOut(BaseModel):
    current_version: str
    accepted_version: str | None
    update_required: bool
    notice: bool


class AgeOut(BaseModel):
    declared: bool
    minor: bool | None


class GuardianOut(BaseModel):
    phone_masked: str
    relation: str
    purposes: list[str]
    given_at: datetime


class ConsentStateOut(BaseModel):
    purposes: list[PurposeStateOut]
    policy: PolicyStandingOut
    age: AgeOut
    guardian: GuardianOut | None


class ConsentRecordOut(BaseModel):
    purpose: str
    action: str
    policy_version: str
    channel: str
    at: datetime
    by_guardian: bool


class ConsentHistoryOut(PageOut):
    records: list[ConsentRecordOut]


class AgeIn(StrictModel):
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    adult_confirmed: bool = Field(default=False, description="'I am 14 or older', instead of a birth year")

    @model_validator(mode="after")
    def _one_of(self) -> AgeIn:
        if self.birth_year is None and not self.adult_confirmed:
            raise ValueError(N_("Give a birth_year or confirm adult_confirmed=true."))
        return self


class GuardianCodeIn(StrictModel):
    phone: str = Field(max_length=20, description="The guardian's mainland mobile number")

    _phone = field_validator("phone")(_check_phone)


class GuardianConsentIn(GuardianCodeIn):
    code: str = Field(pattern=r"^\d{6}$", examples=["123456"])
    relation: Literal["parent", "guardian"]
    purposes: list[Literal["face_processing", "avatar_storage"]] = Field(min_length=1)
    policy_version: str = Field(max_length=32)


class SentOut(BaseModel):
    expires_in: int
