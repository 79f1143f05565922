"""``flask policy …``: publish privacy policy versions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Blueprint

from . import policy

bp = Blueprint("policy_cli", __name__, cli_group="policy")


@bp.cli.command("init")
def init() -> None:
    """Publish the policy shipped with the code as version 1 (does nothing if any version exists)."""
    version = policy.ensure_initial_version()
    click.echo(f"published {version.id}" if version else "a policy is already published")


@bp.cli.command("publish")
@click.argument("version_id")
@click.argument("markdown_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--major/--minor", required=True, help="Major: every user must accept it before continuing (§10)")
@click.option("--summary", required=True, help="What changed, shown to users")
@click.option("--effective", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="A date: in effect from 00:00 Beijing time that day. Default: now")
def publish(version_id: str, markdown_file: Path, major: bool, summary: str, effective: datetime | None) -> None:
    """Publish a new version of the privacy policy from a Markdown file."""
    effective_at = policy.effective_at_for(effective.date()) if effective else datetime.now(UTC)
    version = policy.publish(version_id, markdown_file.read_text(encoding="utf-8"), major=major, summary=summary,
                             effective_at=effective_at)
    click.echo(f"published {version.id} (sequence {version.sequence}, {'major' if major else 'minor'})")
