"""``/admin/``: the staff console page (``static/admin/``), a single page that calls the staff JSON API.

The page holds no data of its own: everything it shows comes from ``/admin/api`` after login, so the
page and its assets are served to anyone, with headers that keep it from being abused:

- ``Content-Security-Policy`` allows scripts, styles, images and requests from this origin only, and no
  inline script or style at all: a ticket message that smuggles in markup can never run (the page also
  only ever inserts user text as text), and the page cannot be framed (``frame-ancestors 'none'`` and
  ``X-Frame-Options: DENY``), posted elsewhere (``form-action``) or re-based (``base-uri``).
- ``Cache-Control: no-store``: the page and its scripts are never kept by a browser or proxy, so a
  deployment's fix reaches every console at once and nothing lingers on a shared machine.

Assets are served from ``/admin/assets/`` (not ``/static/``) so the same policy covers every file the
page loads; only the kinds of file the console is made of are served.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, redirect, send_from_directory
from werkzeug.exceptions import NotFound as FileNotFound

from app.core.errors import NotFound

bp = Blueprint("admin_console", __name__, url_prefix="/admin")

CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
               "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
ASSET_SUFFIXES = frozenset({".js", ".css", ".svg"})


class ConsoleAssetNotFound(NotFound):
    code, message = "console_asset_not_found", "No such file in the staff console."


def console_dir() -> Path:
    return Path(current_app.static_folder or "static") / "admin"


def _strict(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONSOLE_CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("")
def bare() -> Response:
    return _strict(redirect("/admin/", code=308))


@bp.get("/")
def page() -> Response:
    response = send_from_directory(console_dir(), "index.html", mimetype="text/html")
    return _strict(response)


@bp.get("/assets/<path:filename>")
def asset(filename: str) -> Response:
    if Path(filename).suffix not in ASSET_SUFFIXES:
        raise ConsoleAssetNotFound()
    mimetype = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}[Path(filename).suffix]
    try:  # send_from_directory refuses paths that leave the folder (../) with a 404 of its own
        response = send_from_directory(console_dir() / "assets", filename, mimetype=mimetype)
    except FileNotFound as exc:  # answered in our JSON error shape, like every other error
        raise ConsoleAssetNotFound() from exc
    return _strict(response)
