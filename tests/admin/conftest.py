"""Fixtures for the staff API tests: staff of each role, logged in through the real login endpoint.

WeChat Pay points at the sandbox (``pay_config``, autouse) so orders can be bought, paid and refunded
end to end; ``uploader`` is a logged-in adult user with the phone 138 1111 2222.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from app.staff.models import AuditEntry
from tests.accounts.helpers import Db
from tests.orders.conftest import pay_config  # noqa: F401 - autouse: WeChat Pay against the sandbox
from tests.staff.helpers import StaffClient, create_staff
from tests.uploads.conftest import dbx, live_server, sample_jpeg, uploader  # noqa: F401 - shared fixtures

CLEAR_PHONE = "13811112222"
MASKED_PHONE = "138****2222"


@pytest.fixture
def staff(app) -> Callable[..., StaffClient]:
    """``staff("finance")`` → a logged-in StaffClient holding those roles (one account per role set)."""
    made: dict[tuple[str, ...], StaffClient] = {}

    def login_as(*roles: str) -> StaffClient:
        key = tuple(sorted(roles))
        if key not in made:
            username = ("s_" + "_".join(key))[:32]
            create_staff(app, username, list(key))
            made[key] = StaffClient.login(app, username)
        return made[key]

    return login_as


@pytest.fixture
def anonymous(app) -> StaffClient:
    return StaffClient(app)


def audit_entries(dbx: Db, action: str) -> list[AuditEntry]:
    def fetch(session):
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
        for row in rows:
            session.expunge(row)
        return rows

    return dbx.run(fetch)


def error_code(response) -> str:
    return response.get_json()["error"]["code"]
