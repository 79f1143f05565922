"""``flask aigc inspect FILE``: read a file's AI-content labels back and check that the label is ours."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Blueprint, current_app

from . import aigc

bp = Blueprint("aigc_cli", __name__, cli_group="aigc")


@bp.cli.command("inspect")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object")
def inspect(file: Path, as_json: bool) -> None:
    """Print the implicit AIGC label of FILE (JPEG, PNG or MP4) and verify its integrity codes.

    Exit status: 0 label present and both codes valid; 1 no label or a code that does not verify (the file or its
    label was altered, or it was not made with this server's AIGC_LABEL_KEY); 2 not a file we can read.
    """
    try:
        verdict = aigc.verify(file.read_bytes(), current_app.config["AIGC_LABEL_KEY"].encode())
    except aigc.LabelError as exc:
        click.echo(f"{file}: {exc}", err=True)
        raise SystemExit(2) from exc
    report = {"file": str(file), "format": verdict.format, "label": verdict.label,
              "producer_code_valid": verdict.producer_valid, "propagator_code_valid": verdict.propagator_valid,
              "ok": verdict.ok}
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        click.echo(f"{file} ({verdict.format})")
        if verdict.label is None:
            click.echo("  no AIGC label in the metadata")
        else:
            for name, value in verdict.label.items():
                click.echo(f"  {name}: {value}")
            click.echo(f"  ReservedCode1 (producer): {'valid' if verdict.producer_valid else 'INVALID'}")
            if verdict.propagator_valid is not None:
                click.echo(f"  ReservedCode2 (propagator): {'valid' if verdict.propagator_valid else 'INVALID'}")
    if not verdict.ok:
        raise SystemExit(1)
