"""``flask privacy …``: retention, the deletion log for backups, and service shutdown (policy §5, §8(2)).

    flask privacy retention [--dry-run] [--batch-size N] [--only CLASS …]
    flask privacy export-deletions --since 2026-01-01T00:00:00Z [--output deletions.jsonl]
    flask privacy replay-deletions [--since 2026-01-01T00:00:00Z] [--input deletions.jsonl] [--batch-size N]
    flask privacy copy-deletions
    flask privacy shutdown --dry-run
    flask privacy shutdown --confirm <SERVICE_NAME> [--batch-size N]
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import click
from flask import Blueprint, current_app

from app.privacy import deletion_log, deletion_log_copy, retention, shutdown

bp = Blueprint("privacy_cli", __name__, cli_group="privacy")


class IsoTime(click.ParamType):
    name = "iso-datetime"

    def convert(self, value, param, ctx) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return deletion_log.parse_time(value.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date-time (e.g. 2026-01-31T02:00:00+08:00)", param, ctx)


def _batch_size_option(func):
    return click.option("--batch-size", type=click.IntRange(min=1), default=None,
                        help="Rows per transaction (default RETENTION_BATCH_SIZE)")(func)


def _batch_size(value: int | None) -> int:
    return value or current_app.config["RETENTION_BATCH_SIZE"]


def _counts(counts: dict) -> str:
    return " ".join(f"{name}={value}" for name, value in counts.items())


@bp.cli.command("retention")
@click.option("--dry-run", is_flag=True, help="Show the table and what is due now; change nothing.")
@click.option("--only", "only", multiple=True, help="Only these classes (the names --dry-run lists)")
@_batch_size_option
def retention_command(dry_run: bool, only: tuple[str, ...], batch_size: int | None) -> None:
    """Enforce the retention table now (the privacy.retention periodic job does it daily)."""
    if dry_run:
        due = retention.due_counts()
        for row in retention.retention_table():
            count = due.get(row["class"])
            shown = "-" if count is None else count
            click.echo(f"{row['class']:20s} {row['period']:>12s}  {row['action']:9s}  due={shown}"
                       f"  ({row['what']}; from {row['clock']}; {row['enforced_by']})")
        return
    unknown = sorted(set(only) - set(retention.registered_classes()))
    if unknown:
        raise click.BadParameter(f"unknown retention classes: {', '.join(unknown)}", param_hint="--only")
    counts = retention.run_retention(batch_size=_batch_size(batch_size), classes=only or None)
    click.echo(_counts(counts))


@bp.cli.command("export-deletions")
@click.option("--since", required=True, type=IsoTime(), help="Entries logged at or after this time")
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-", help="JSON lines (default stdout)")
def export_deletions(since: datetime, output) -> None:
    """Copy the deletion log (ids only, JSON lines) off-site: a database restore also restores the log."""
    written = 0
    for batch in deletion_log.entries_since(since):
        for entry in batch:
            output.write(deletion_log.to_json_line(entry) + "\n")
            written += 1
    click.echo(f"exported={written}", err=True)


@bp.cli.command("replay-deletions")
@click.option("--since", type=IsoTime(), default=None,
              help="Replay entries from this time (default: the restored log's newest entry, less "
                   "DELETION_REPLAY_MARGIN_S; everything if the log is empty)")
@click.option("--input", "input_file", type=click.File("r", encoding="utf-8"), default=None,
              help="A file made by export-deletions (default: the copies in object storage, then this "
                   "database's own log)")
@_batch_size_option
def replay_deletions(since: datetime | None, input_file, batch_size: int | None) -> None:
    """After restoring a backup: delete again everything deleted since it was taken (rows, files, keys)."""
    size = _batch_size(batch_size)
    if since is None:
        since = deletion_log_copy.restored_log_end(timedelta(seconds=current_app.config["DELETION_REPLAY_MARGIN_S"]))
        click.echo(f"replaying from {since.isoformat() if since else 'the beginning'}", err=True)
    if input_file is not None:
        counts = deletion_log.replay(deletion_log.read_json_lines(input_file, since or deletion_log_copy.epoch(),
                                                                  size))
    else:
        own = deletion_log.replay_since(since or deletion_log_copy.epoch(), size)
        copied = deletion_log.replay(deletion_log_copy.copied_entries(since, size))
        counts = {name: own[name] + copied[name] for name in own}
    click.echo(_counts(counts))
    if counts["unresolved"]:
        click.echo(f"{counts['unresolved']} entries name no known table: check them by hand", err=True)


@bp.cli.command("shutdown")
@click.option("--dry-run", is_flag=True, help="Report what would be deleted or anonymised; change nothing.")
@click.option("--confirm", default=None, help="The service name (SERVICE_NAME): required to really do it")
@_batch_size_option
def shutdown_command(dry_run: bool, confirm: str | None, batch_size: int | None) -> None:
    """The service stops operating: delete or anonymise ALL personal data (orders kept pseudonymised)."""
    service_name = current_app.config["SERVICE_NAME"]
    if dry_run:
        report, verb = shutdown.dry_run(), "would"
    else:
        if confirm != service_name:
            click.echo(f"refusing: pass --confirm {service_name} (SERVICE_NAME) to delete all personal data, "
                       "or --dry-run to see what would happen", err=True)
            sys.exit(2)
        report, verb = shutdown.shutdown(confirm, service_name, _batch_size(batch_size)), "did"
    for step in report:
        columns = f" ({', '.join(step['columns'])})" if step["columns"] else ""
        note = f"  {step['note']}" if step["note"] else ""
        click.echo(f"{verb} {step['action']:9s} {step['table']:24s} {step['rows']:>9d}{columns}{note}")


@bp.cli.command("copy-deletions")
def copy_deletions() -> None:
    """Copy deletion-log entries not yet copied to object storage now (normally a job does it after each commit)."""
    click.echo(f"copied={deletion_log_copy.copy_pending(current_app.config['RETENTION_BATCH_SIZE'])}")
