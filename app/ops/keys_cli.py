"""``flask keys …``: key-encryption key rotation without downtime.

1. Generate a key: ``flask keys generate``.
2. Deploy with ``ENCRYPTION_KEY=<new>``, ``ENCRYPTION_KEY_ID=<new id>`` and the old key kept in
   ``ENCRYPTION_OLD_KEYS=<old id>:<old key>``: new data is sealed under the new key, old data still opens.
3. ``flask keys rewrap``: every file's data key is re-wrapped and every sealed field re-sealed under
   the new key (files are not rewritten). Idempotent; safe to run while serving.
4. Remove the old key from ENCRYPTION_OLD_KEYS.
"""

from __future__ import annotations

import click
from flask import Blueprint
from sqlalchemy import select

from app.accounts.models import User, WechatIdentity
from app.core import vault
from app.core.crypto import generate_key, keyring
from app.core.objects import StoredObject
from app.extensions import db
from app.support.models import BODY_PURPOSE, SUBJECT_PURPOSE, Ticket, TicketMessage

bp = Blueprint("keys_cli", __name__, cli_group="keys")

# (model, column, purpose) of every field sealed with app.core.crypto.
SEALED_FIELDS = (
    (User, "phone_ciphertext", "user.phone"),
    (WechatIdentity, "openid_ciphertext", "wechat.openid"),
    (WechatIdentity, "session_key_ciphertext", "wechat.session_key"),
    (Ticket, "subject_ciphertext", SUBJECT_PURPOSE),
    (TicketMessage, "body_ciphertext", BODY_PURPOSE),
)


@bp.cli.command("generate")
def generate() -> None:
    """Print a new random 32-byte key for ENCRYPTION_KEY."""
    click.echo(generate_key())


@bp.cli.command("rewrap")
@click.option("--batch", default=500, show_default=True)
def rewrap(batch: int) -> None:
    """Re-wrap data keys and re-seal fields under the current key."""
    ring = keyring()
    objects = 0
    query = select(StoredObject).where(StoredObject.wrapped_key.is_not(None),
                                       StoredObject.kek_id != ring.current_id).limit(batch)
    while rows := list(db.session.scalars(query)):
        for obj in rows:
            obj.kek_id, obj.wrapped_key = vault.rewrap(obj.id, obj.kek_id, obj.wrapped_key)
        db.session.commit()
        objects += len(rows)
    fields = 0
    for model, column, purpose in SEALED_FIELDS:
        for row in db.session.scalars(select(model).where(getattr(model, column).is_not(None))):
            sealed = getattr(row, column)
            if ring.key_id_of(sealed) != ring.current_id:
                setattr(row, column, ring.seal(ring.open(sealed, purpose), purpose))
                fields += 1
        db.session.commit()
    click.echo(f"re-wrapped {objects} object key(s), re-sealed {fields} field(s) under key {ring.current_id}")
