"""``flask keys …``: key-encryption key rotation without downtime.

1. Generate a key: ``flask keys generate``.
2. Deploy with ``ENCRYPTION_KEY=<new>``, ``ENCRYPTION_KEY_ID=<new id>`` and the old key kept in
   ``ENCRYPTION_OLD_KEYS=<old id>:<old key>``: new data is sealed under the new key, old data still opens.
3. ``flask keys rewrap``: every file's data key is re-wrapped and every sealed field re-sealed under
   the new key (files are not rewritten). The work list is the lifecycle registry (app/ops/keys.py):
   the command refuses to run while a sealed column or an object kind is not registered. Idempotent;
   safe to run while serving.
4. Remove the old key from ENCRYPTION_OLD_KEYS.
"""

from __future__ import annotations

import click
from flask import Blueprint

from app.core.crypto import generate_key

from . import keys

bp = Blueprint("keys_cli", __name__, cli_group="keys")


@bp.cli.command("generate")
def generate() -> None:
    """Print a new random 32-byte key for ENCRYPTION_KEY."""
    click.echo(generate_key())


@bp.cli.command("rewrap")
@click.option("--batch", default=500, show_default=True)
def rewrap(batch: int) -> None:
    """Re-wrap data keys and re-seal fields under the current key (the work list: app.core.lifecycle)."""
    try:
        report = keys.rewrap(batch)
    except keys.RegistryIncomplete as exc:
        raise click.ClickException(f"{exc}; register them in the owning domain's lifecycle.py first") from exc
    for name, count in sorted({**report.objects, **report.fields, **report.files}.items()):
        click.echo(f"  {name}: {count}")
    click.echo(report.summary())
