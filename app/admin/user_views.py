"""Staff API: find a user, see them masked, unmask one field with a reason, block and unblock."""

from __future__ import annotations

from flask import Blueprint

from app.accounts import services as account_services
from app.accounts.queries import UserCard
from app.core.api import endpoint
from app.staff import audit
from app.staff.auth import STAFF_API_PREFIX, staff_required
from app.staff.permissions import Permission

from . import users
from .schemas import (
    MaskedUserOut,
    OrderLineOut,
    ReasonIn,
    UnmaskedOut,
    UnmaskIn,
    UserCounts,
    UserDetailOut,
    UserSearchOut,
    UserSearchQuery,
)

bp = Blueprint("admin_users", __name__, url_prefix=STAFF_API_PREFIX)
TAGS = ("staff",)


def masked_out(user: UserCard) -> MaskedUserOut:
    view = users.masked(user)
    return MaskedUserOut(id=view.public_id, phone=view.phone, nickname=view.nickname, has_wechat=view.has_wechat,
                         status=view.status, blocked=view.blocked,
                         blocked_reason=view.blocked_reason, created_at=view.created_at,
                         last_login_at=view.last_login_at, counts=UserCounts(**view.counts))


def detail_out(user: UserCard) -> UserDetailOut:
    return UserDetailOut(user=masked_out(user), recent_orders=[
        OrderLineOut(order_no=o.order_no, product=o.product_name, amount_fen=o.amount_fen,
                     status=o.status, created_at=o.created_at) for o in users.recent_orders(user)])


@bp.get("/users")
@staff_required(Permission.USERS_READ)
@endpoint("Find users by user id, phone number or order number (masked)", query=UserSearchQuery,
          response=UserSearchOut, tags=TAGS, errors=[401, 403, 422],
          description="Errors: unrecognised_query (not an id, a mainland mobile number or an order number).")
def search_users(query: UserSearchQuery):
    kinds, found = users.find_users(query.q)
    # The query itself may be a phone number: only how it was read and what it matched are logged.
    audit.record("user.search", "user", None, details={"searched_as": kinds, "matches": [u.public_id for u in found]})
    return UserSearchOut(searched_as=kinds, users=[masked_out(u) for u in found])


@bp.get("/users/<public_id>")
@staff_required(Permission.USERS_READ)
@endpoint("One user, masked, with counts and recent orders", response=UserDetailOut, tags=TAGS,
          errors=[401, 403, 404])
def user_detail(public_id: str):
    user = users.get_user(public_id)
    audit.record("user.view", "user", user.public_id)
    return detail_out(user)


@bp.post("/users/<public_id>/unmask")
@staff_required(Permission.USERS_UNMASK)
@endpoint("See one field of a user in clear, stating why (audit-logged)", body=UnmaskIn, response=UnmaskedOut,
          tags=TAGS, errors=[401, 403, 404, 409, 422],
          description="Errors: user_not_found, field_empty (the user has no such value).")
def unmask(public_id: str, body: UnmaskIn):
    user = users.get_user(public_id)
    value = users.unmasked_value(user, body.field)
    audit.record("user.unmask", "user", user.public_id, reason=body.reason, details={"field": body.field})
    return UnmaskedOut(field=body.field, value=value)


@bp.post("/users/<public_id>/block")
@staff_required(Permission.USERS_BLOCK)
@endpoint("Block a user: every session revoked, logins refused", body=ReasonIn, response=UserDetailOut, tags=TAGS,
          errors=[401, 403, 404, 409, 422], description="Errors: user_not_found, user_already_blocked.")
def block(public_id: str, body: ReasonIn):
    user = users.get_user(public_id, for_update=True)
    users.check_can_block(user)
    audit.record("user.block", "user", user.public_id, reason=body.reason)
    account_services.block(user.id, body.reason)  # commits, with the audit entry
    return detail_out(users.get_user(public_id))


@bp.post("/users/<public_id>/unblock")
@staff_required(Permission.USERS_BLOCK)
@endpoint("Lift a block", body=ReasonIn, response=UserDetailOut, tags=TAGS, errors=[401, 403, 404, 409, 422],
          description="Errors: user_not_found, user_not_blocked.")
def unblock(public_id: str, body: ReasonIn):
    user = users.get_user(public_id, for_update=True)
    users.check_can_unblock(user)
    audit.record("user.unblock", "user", user.public_id, reason=body.reason)
    account_services.unblock(user.id)  # commits, with the audit entry
    return detail_out(users.get_user(public_id))
