"""``flask --app wsgi:app demo run``: the mini-program's journey from the command line, against ``make run``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Blueprint, current_app

from devkit.demo.journey import DemoError, Journey, JourneyOptions, StackNotRunning
from devkit.demo.views import SAMPLE_PHOTO

bp = Blueprint("demo_cli", __name__, cli_group="demo")


def default_photo() -> Path:
    return Path(current_app.static_folder or "static") / "demo" / SAMPLE_PHOTO


@bp.cli.command("run")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-output"),
              show_default=True, help="Folder for the preview, the HD image and journey.json.")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True, help="The running web app.")
@click.option("--sandbox-url", default="http://127.0.0.1:5100", show_default=True,
              help="The running WeChat sandbox.")
@click.option("--style", default="anime", show_default=True,
              help="A style id of GET /api/v1/styles (one-photo styles: photo styles and ID photos).")
@click.option("--photo", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The portrait to upload (default: the bundled sample, static/demo/samples/).")
@click.option("--user", default=None,
              help="A sandbox test user (e.g. alice); default: a fresh one with a fresh phone number.")
@click.option("--keep-account", is_flag=True, help="Do not cancel the account at the end.")
@click.option("--timeout", "timeout_s", type=float, default=180.0, show_default=True,
              help="Seconds to wait for the content check or the generation job.")
def run(out_dir: Path, base_url: str, sandbox_url: str, style: str, photo: Path | None, user: str | None,
        keep_account: bool, timeout_s: float) -> None:
    """Log in, consent, upload, generate, pay and download, read "my data", cancel — printing each step."""
    options = JourneyOptions(out_dir=out_dir, photo=photo or default_photo(), base_url=base_url,
                             sandbox_url=sandbox_url, style=style, user=user, cancel=not keep_account,
                             timeout_s=timeout_s)
    try:
        Journey(options, echo=click.echo).run()
    except StackNotRunning as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except DemoError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
