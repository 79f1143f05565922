"""Registers every domain's personal-data lifecycle (app.core.lifecycle) at start-up, in the order of
"what we hold" and of the export: the account first, then what the user did with it."""

from __future__ import annotations

from flask import Flask

from app.core import lifecycle


def register_all(app: Flask) -> None:
    from app.accounts.lifecycle import lifecycle as accounts
    from app.consent.lifecycle import lifecycle as consent
    from app.core.idempotency import lifecycle as idempotency
    from app.generation.lifecycle import lifecycle as generation
    from app.notices.lifecycle import lifecycle as notices
    from app.orders.lifecycle import lifecycle as orders
    from app.privacy.lifecycle import lifecycle as privacy
    from app.staff.lifecycle import lifecycle as staff
    from app.support.lifecycle import lifecycle as support
    from app.uploads.lifecycle import lifecycle as uploads

    with app.app_context():  # the descriptions read the configured retention periods
        for build in (accounts, consent, uploads, generation, orders, privacy, support, notices, staff,
                      idempotency):
            lifecycle.register(build())
