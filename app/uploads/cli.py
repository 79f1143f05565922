"""``flask uploads sweep``: delete unclaimed uploads and settle stale content checks now."""

import click
from flask import Blueprint

from app.uploads import services

bp = Blueprint("uploads_cli", __name__, cli_group="uploads")


@bp.cli.command("sweep")
def sweep() -> None:
    counts = services.sweep()
    click.echo(" ".join(f"{name}={count}" for name, count in counts.items()))
