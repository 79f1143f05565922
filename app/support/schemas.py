"""Request and response shapes of the support API, for users and for staff."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.core.i18n import _l
from app.core.pagination import PageOut, PageQuery

from .models import TicketCategory, TicketStatus

SUBJECT_MAX, BODY_MAX = 100, 2000

Category = Literal["order_dispute", "generation_quality", "account", "privacy", "other"]
Status = Literal["open", "waiting_user", "resolved", "closed"]
# Bidirectional overrides and isolates re-order how the text displays (a staff member could be shown a
# different order number or amount than the one written); zero-width joiners stay (emoji sequences).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ALLOWED_CONTROLS = frozenset("\t\n\r")


def plain_text(value: str) -> str:
    """Refuse what is not text a person wrote: NUL and other control characters, terminal escapes, bidi overrides."""
    for ch in value:
        if ch in BIDI_CONTROLS or (unicodedata.category(ch) in ("Cc", "Cs") and ch not in ALLOWED_CONTROLS):
            raise ValueError(_l("Must not contain control characters (found U+%(code)s).", code=format(ord(ch), "04X")))
    return value


Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SUBJECT_MAX),
                    AfterValidator(plain_text)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=BODY_MAX),
                 AfterValidator(plain_text)]

# The API's names are the model's: one list to change.
assert set(get_args(Category)) == set(TicketCategory) and set(get_args(Status)) == set(TicketStatus)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently dropped


# --- users ---------------------------------------------------------------------------------------------

class TicketIn(_In):
    category: Category
    subject: Subject = Field(description=f"At most {SUBJECT_MAX} characters")
    body: Body = Field(description=f"The question, at most {BODY_MAX} characters")
    order_no: str | None = Field(default=None, min_length=1, max_length=32, description="One of my orders")
    job_id: str | None = Field(default=None, min_length=1, max_length=32, description="One of my generation jobs")


class MessageIn(_In):
    body: Body = Field(description=f"At most {BODY_MAX} characters")


class MessageOut(BaseModel):
    author: Literal["user", "staff"]
    body: str
    created_at: datetime


class TicketSummaryOut(BaseModel):
    id: str
    category: Category
    subject: str
    status: Status
    order_no: str | None
    job_id: str | None
    has_unread_staff_reply: bool = Field(description="Staff answered since I last opened the ticket")
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class TicketOut(TicketSummaryOut):
    messages: list[MessageOut]


class TicketListOut(PageOut):
    tickets: list[TicketSummaryOut]


# --- staff -----------------------------------------------------------------------------------------------

class StaffTicketQuery(_In, PageQuery):
    status: Status | None = None
    category: Category | None = None
    assigned: str | None = Field(default=None, max_length=32,
                                 description="'me', 'none' (unassigned) or a staff username")


class StaffReplyIn(_In):
    body: Body


class StaffStatusIn(_In):
    status: Status
    note: str | None = Field(default=None, max_length=500, description="Why (kept in the audit log; "
                                                                       "no personal data)")


class StaffAssignIn(_In):
    username: str | None = Field(default=None, max_length=32,
                                 description="The staff member to handle it (needs tickets.write); null: unassign")


class StaffUserOut(BaseModel):
    id: str = Field(description="The user's public id")
    phone: str | None = Field(description="Masked: 138****1234")


class StaffOrderOut(BaseModel):
    order_no: str
    product: str
    amount_fen: int
    refunded_fen: int
    status: str


class StaffJobOut(BaseModel):
    id: str
    style: str
    status: str


class StaffMessageOut(BaseModel):
    author: Literal["user", "staff"]
    staff: str | None = Field(description="The staff username for staff messages")
    body: str
    created_at: datetime


class StaffTicketSummaryOut(BaseModel):
    id: str
    category: Category
    subject: str = Field(description="Masked in lists; in full in the (audit-logged) ticket view")
    status: Status
    user: StaffUserOut
    order: StaffOrderOut | None
    job: StaffJobOut | None
    assigned_to: str | None
    message_count: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None


class StaffTicketOut(StaffTicketSummaryOut):
    messages: list[StaffMessageOut]


class StaffTicketListOut(PageOut):
    tickets: list[StaffTicketSummaryOut]
