"""What a user may do because they paid: HD originals, credits for paid styles."""

from __future__ import annotations

from sqlalchemy import or_, select

from app.core.db import utcnow
from app.core.errors import ApiError
from app.extensions import db

from .models import CreditUse, Entitlement
from .products import PAID_KINDS, PRODUCTS


class PaymentRequired(ApiError):
    status, code, message = 402, "payment_required", "This needs a purchase first."


def has_hd(user_id: int, result_public_id: str, job_public_id: str, job_id: int | None = None) -> bool:
    """May the user download this result's original? Yes if they bought its HD download (one result or the
    whole job), or if the job itself was paid for with a credit (an avatar or a video is sold whole: what a
    user paid to have made is theirs, with no second purchase)."""
    if job_id is not None and paid_with_credit(job_id):
        return True
    return db.session.scalar(select(Entitlement.id).where(
        Entitlement.user_id == user_id, Entitlement.revoked_at.is_(None),
        or_((Entitlement.kind == "hd_result") & (Entitlement.subject_id == result_public_id),
            (Entitlement.kind == "hd_job") & (Entitlement.subject_id == job_public_id))).limit(1)) is not None


def paid_with_credit(job_id: int) -> bool:
    """The job spent a credit that was not given back (and whose purchase was not refunded)."""
    return db.session.scalar(select(CreditUse.id).join(Entitlement, Entitlement.id == CreditUse.entitlement_id)
                             .where(CreditUse.job_id == job_id, CreditUse.returned_at.is_(None),
                                    Entitlement.revoked_at.is_(None)).limit(1)) is not None


def consume_credit(user_id: int, style_kind: str, job_id: int) -> None:
    """Spend one credit for a paid style kind, in the caller's transaction (402 when there is none)."""
    if style_kind not in PAID_KINDS:
        return
    entitlement = db.session.scalar(select(Entitlement).where(
        Entitlement.user_id == user_id, Entitlement.kind == "credit", Entitlement.credit_kind == style_kind,
        Entitlement.revoked_at.is_(None), Entitlement.credits_used < Entitlement.credits_total)
        .order_by(Entitlement.id).limit(1).with_for_update())
    if entitlement is None:
        products = [p.id for p in PRODUCTS.values() if p.credit_kind == style_kind]
        raise PaymentRequired(details={"products": products})
    entitlement.credits_used += 1
    db.session.add(CreditUse(entitlement_id=entitlement.id, job_id=job_id))


def return_credit(job_id: int) -> bool:
    """A job that did not succeed gives its credit back (once)."""
    use = db.session.scalar(select(CreditUse).where(CreditUse.job_id == job_id, CreditUse.returned_at.is_(None))
                            .with_for_update())
    if use is None:
        return False
    use.returned_at = utcnow()
    entitlement = db.session.get(Entitlement, use.entitlement_id, with_for_update=True)
    entitlement.credits_used -= 1
    return True


def credits_left(user_id: int) -> dict[str, int]:
    left: dict[str, int] = {}
    for e in db.session.scalars(select(Entitlement).where(Entitlement.user_id == user_id,
                                                          Entitlement.kind == "credit",
                                                          Entitlement.revoked_at.is_(None))):
        left[e.credit_kind] = left.get(e.credit_kind, 0) + e.credits_total - e.credits_used
    return left


def paid_job_ids(job_ids: set[int]) -> set[int]:
    """Of these generation jobs, those paid with a credit that was not returned (the export's videos)."""
    if not job_ids:
        return set()
    return set(db.session.scalars(select(CreditUse.job_id).where(CreditUse.job_id.in_(job_ids),
                                                                 CreditUse.returned_at.is_(None))))
