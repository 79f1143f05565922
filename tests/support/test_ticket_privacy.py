"""Tickets and the privacy policy: encrypted at rest, deleted on time, gone with the account, in the export."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import LargeBinary, String, Text, select

from app.core.crypto import DecryptionError, generate_key
from app.core.db import utcnow
from app.extensions import db
from app.privacy import retention
from app.privacy.deletion_log import DeletionLogEntry
from app.privacy.export import build_archive
from app.support import services
from app.support.models import Ticket, TicketMessage
from tests.accounts.conftest import sms_code
from tests.support.conftest import TICKETS, open_ticket, set_ticket, user_id

SECRET_SUBJECT = "我家住在幸福路 88 号"
SECRET_BODY = "身份证号 110101199003077777，手机号 13811112222"
DAY, SECOND = timedelta(days=1), timedelta(seconds=1)


def every_stored_value(session) -> bytes:
    """Every text and binary value of every table, concatenated: what a stolen database dump shows."""
    chunks = []
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.c if isinstance(c.type, String | Text | LargeBinary)]
        for row in session.execute(select(*columns)) if columns else ():
            for value in row:
                if value is not None:
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(chunks)


def test_subject_and_messages_are_not_stored_in_plain_text(app, alice, dbx):
    ticket = open_ticket(alice, subject=SECRET_SUBJECT, body=SECRET_BODY)
    alice.call("POST", f"{TICKETS}/{ticket['id']}/messages", json={"body": SECRET_BODY + " 补充"})
    dump = dbx.run(every_stored_value)
    for secret in (SECRET_SUBJECT, "幸福路", SECRET_BODY, "110101199003077777"):
        assert secret.encode() not in dump, secret
    row = dbx.one(select(Ticket))
    message = dbx.run(lambda s: s.scalars(select(TicketMessage).order_by(TicketMessage.id)).first())
    with app.app_context():
        assert services.subject_of(row) == SECRET_SUBJECT and services.body_of(message) == SECRET_BODY
        # Each ciphertext is bound to its column: a body pasted into the subject does not open.
        row.subject_ciphertext = message.body_ciphertext
        with pytest.raises(DecryptionError):
            services.subject_of(row)


def test_key_rotation_reseals_tickets(app, alice, dbx):
    ticket = open_ticket(alice, subject=SECRET_SUBJECT, body=SECRET_BODY)
    old_key, old_id = app.config["ENCRYPTION_KEY"], app.config["ENCRYPTION_KEY_ID"]
    try:
        app.config.update(ENCRYPTION_KEY=generate_key(), ENCRYPTION_KEY_ID="k-next",
                          ENCRYPTION_OLD_KEYS=f"{old_id}:{old_key}")
        app.extensions.pop("keyring", None)
        result = app.test_cli_runner().invoke(args=["keys", "rewrap"])
        assert result.exit_code == 0, result.output
        app.config.update(ENCRYPTION_OLD_KEYS=None)  # the old key is gone
        app.extensions.pop("keyring", None)
        thread = alice.get(f"{TICKETS}/{ticket['id']}").get_json()["data"]
        assert thread["subject"] == SECRET_SUBJECT and thread["messages"][0]["body"] == SECRET_BODY
    finally:
        app.config.update(ENCRYPTION_KEY=old_key, ENCRYPTION_KEY_ID=old_id, ENCRYPTION_OLD_KEYS=None)
        app.extensions.pop("keyring", None)


def test_retention_deletes_closed_tickets_with_their_messages_exactly_on_time(app, alice, dbx):
    days = app.config["RETENTION"]["support_tickets"]["days"]
    assert days == 365
    now = utcnow().replace(microsecond=0)
    due, short, still_open, resolved = (open_ticket(alice) for _ in range(4))
    alice.call("POST", f"{TICKETS}/{due['id']}/messages", json={"body": "second message"})
    set_ticket(dbx, due["id"], status="closed", closed_at=now - days * DAY)
    set_ticket(dbx, short["id"], status="closed", closed_at=now - days * DAY + SECOND)
    set_ticket(dbx, still_open["id"], created_at=now - 3 * days * DAY)  # old but never closed: kept
    set_ticket(dbx, resolved["id"], status="resolved", resolved_at=now - 2 * DAY)  # not stale yet
    due_row_id = dbx.one(select(Ticket).where(Ticket.public_id == due["id"])).id

    with app.app_context():
        assert retention.due_counts(now)["support_tickets"] == 1
        assert retention.run_retention(now=now, classes=["support_tickets"]) == {"support_tickets": 1}
        assert retention.run_retention(now=now, classes=["support_tickets"]) == {"support_tickets": 0}
    remaining = {t.public_id: t.status for t in dbx.run(lambda s: s.scalars(select(Ticket)).all())}
    assert remaining == {short["id"]: "closed", still_open["id"]: "open", resolved["id"]: "resolved"}
    assert dbx.count(TicketMessage, TicketMessage.ticket_id == due_row_id) == 0  # went with the ticket
    assert dbx.count(TicketMessage) == 3
    # Logged for replay after a backup restore: ids only.
    [entry] = dbx.run(lambda s: s.scalars(select(DeletionLogEntry)).all())
    assert (entry.table_name, entry.row_id, entry.action, entry.reason) == ("support_tickets", str(due_row_id),
                                                                           "delete", "retention_expired")
    rows = {r["class"]: r for r in dbx.run(lambda s: retention.retention_table(app.config))}
    assert rows["support_tickets"]["period"] == "365 days" and rows["support_tickets"]["action"] == "delete"


def test_resolved_tickets_left_alone_close_after_14_days_then_expire(app, alice, dbx):
    now = utcnow().replace(microsecond=0)
    stale, fresh, reopened = (open_ticket(alice) for _ in range(3))
    set_ticket(dbx, stale["id"], status="resolved", resolved_at=now - 14 * DAY)
    set_ticket(dbx, fresh["id"], status="resolved", resolved_at=now - 14 * DAY + SECOND)
    set_ticket(dbx, reopened["id"], status="resolved", resolved_at=now - 30 * DAY)
    alice.call("POST", f"{TICKETS}/{reopened['id']}/messages", json={"body": "not solved"})  # back to open

    with app.app_context():
        assert retention.run_retention(now=now, classes=["support_tickets"]) == {"support_tickets": 0}
    statuses = {t.public_id: (t.status, t.closed_at, t.resolved_at)
                for t in dbx.run(lambda s: s.scalars(select(Ticket)).all())}
    assert statuses[stale["id"]] == ("closed", now, None)
    assert statuses[fresh["id"]][0] == "resolved" and statuses[reopened["id"]][0] == "open"
    assert alice.get(f"{TICKETS}/{stale['id']}").get_json()["data"]["status"] == "closed"

    # The closing starts the retention period.
    with app.app_context():
        assert retention.run_retention(now=now + 365 * DAY - SECOND, classes=["support_tickets"]) == \
            {"support_tickets": 0}
        assert retention.run_retention(now=now + 365 * DAY, classes=["support_tickets"]) == {"support_tickets": 1}
    assert dbx.count(Ticket, Ticket.public_id == stale["id"]) == 0


def test_cancelling_the_account_deletes_its_tickets(app, alice, bob, client, dbx):
    mine = open_ticket(alice, subject=SECRET_SUBJECT, body=SECRET_BODY)
    alice.call("POST", f"{TICKETS}/{mine['id']}/messages", json={"body": "more"})
    theirs = open_ticket(bob)
    alice_id = user_id(dbx, alice)
    assert alice.call("POST", "/api/v1/me/cancellation/code").status_code == 202
    done = alice.call("POST", "/api/v1/me/cancellation", json={"code": sms_code(client, "13811112222")})
    assert done.status_code in (200, 204), done.get_json()
    assert dbx.count(Ticket, Ticket.user_id == alice_id) == 0
    assert dbx.count(Ticket) == 1 and dbx.one(select(Ticket)).public_id == theirs["id"]
    assert dbx.count(TicketMessage) == 1  # bob's only
    assert bob.get(f"{TICKETS}/{theirs['id']}").status_code == 200


def test_tickets_are_in_what_we_hold_and_in_the_export(app, alice, dbx):
    ticket = open_ticket(alice, category="privacy", subject=SECRET_SUBJECT, body=SECRET_BODY)
    categories = {c["name"]: c for c in alice.get("/api/v1/me/data").get_json()["data"]["categories"]}
    assert categories["support_tickets"]["count"] == 1 and "365 天" in categories["support_tickets"]["retention"]

    alice_id = user_id(dbx, alice)
    archive = zipfile.ZipFile(io.BytesIO(dbx.run(lambda s: build_archive(alice_id))))
    document = json.loads(archive.read("support_tickets.json"))
    assert document["schema"] == "support_tickets/1"
    [exported] = document["tickets"]
    assert (exported["id"], exported["category"], exported["subject"], exported["status"]) == (
        ticket["id"], "privacy", SECRET_SUBJECT, "open")
    assert [(m["author"], m["body"]) for m in exported["messages"]] == [("user", SECRET_BODY)]
    manifest = json.loads(archive.read("manifest.json"))
    listed = next(f for f in manifest["files"] if f["name"] == "support_tickets.json")
    assert listed["records"] == 1
