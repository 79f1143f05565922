"""Languages: Chinese (zh_CN) first, English when the client asks for it.

Every user-facing text is written in English in the code and translated through Flask-Babel's message
catalogs (``app/translations/<locale>/LC_MESSAGES/messages.po``, extracted with ``make i18n``; see
docs/i18n.md). The locale of a request is the best match of its ``Accept-Language`` among
``SUPPORTED_LOCALES``; no header, or a language we do not speak, gives ``zh_CN``. Outside a request (jobs,
CLI) it is ``zh_CN`` too: the people on the other side are Chinese.

Markers:
- ``_`` / ``gettext``: translate now (inside a request or a job);
- ``_l`` / ``lazy_gettext``: a lazy string for module-level labels, translated when rendered;
- ``N_``: marks an English text for extraction without translating it (error classes' default messages,
  which the error handler translates at response time).
Error messages raised as literals (``raise NotFound("Job not found.")``) need no marker: the extractor
(``app/core/i18n_extract.py``) finds them and the error handler translates them (``translate``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, has_request_context, request
from flask_babel import Babel, force_locale, get_locale, gettext, lazy_gettext, ngettext
from flask_babel.speaklater import LazyString

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
DEFAULT_LOCALE = "zh_CN"
# Accept-Language tag (as werkzeug matches it, primary tag fallback included) -> our locale.
SUPPORTED_LOCALES = {"zh": "zh_CN", "en": "en"}
# Babel reads "zh_CN" as zh_Hans_CN (simplified script added), so that is the catalog directory's name:
# app/translations/zh_Hans_CN/LC_MESSAGES/messages.po (``catalog_path``).

babel = Babel()

_ = gettext
_l = lazy_gettext

__all__ = ["DEFAULT_LOCALE", "N_", "_", "_l", "babel", "catalog_path", "force_locale", "get_locale", "gettext",
           "init_app", "lazy_gettext", "locale_name", "ngettext", "translate"]


def N_(message: str) -> str:  # noqa: N802 - the conventional name of gettext_noop
    """Mark ``message`` for extraction; it is translated later, where it is shown."""
    return message


def catalog_path(name: str = DEFAULT_LOCALE) -> Path:
    return TRANSLATIONS_DIR / str(Locale.parse(name)) / "LC_MESSAGES" / "messages.po"


def locale_name() -> str:
    """The current locale as we name it: ``zh_CN`` or ``en``."""
    current = get_locale()
    return "en" if current is not None and current.language == "en" else DEFAULT_LOCALE


# Per request, Flask-Babel asks ``select_locale`` and parses its answer (``Locale.parse``), and werkzeug parses the
# Accept-Language header to match it: ~60 us a request for one of a handful of header values that phones send.
# So the match is kept per header value (bounded) and the answer is a parsed ``Locale`` (which ``parse`` returns
# as is).
_LOCALES: dict[str, Locale] = {}
_BY_HEADER: dict[str, str] = {}
_BY_HEADER_MAX = 256


def _locale(name: str) -> Locale:
    locale = _LOCALES.get(name)
    if locale is None:
        locale = _LOCALES[name] = Locale.parse(name)
    return locale


def select_locale() -> Locale:
    if not has_request_context():
        return _locale(DEFAULT_LOCALE)
    header = request.headers.get("Accept-Language", "")
    name = _BY_HEADER.get(header)
    if name is None:
        match = request.accept_languages.best_match(list(SUPPORTED_LOCALES))
        name = SUPPORTED_LOCALES.get(match or "", DEFAULT_LOCALE)
        if len(header) <= 200:  # a phone's header, not an arbitrary blob
            if len(_BY_HEADER) >= _BY_HEADER_MAX:
                _BY_HEADER.clear()
            _BY_HEADER[header] = name
    return _locale(name)


def translate(message: Any) -> str:
    """The text to show for ``message``: a lazy string renders in the current locale, a plain English text is
    looked up in the catalog (it is its own msgid) and comes back unchanged when it has no translation."""
    if isinstance(message, LazyString):
        return str(message)
    if not isinstance(message, str) or not message:
        return "" if message is None else str(message)
    return gettext(message)


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile every ``.po`` whose ``.mo`` is missing or older (the ``.mo`` files are build output, not in git).
    Returns the files written; a read-only install with up-to-date ``.mo`` files writes nothing."""
    written = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        tmp = mo_path.with_suffix(f".mo.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as mo_file:
                write_mo(mo_file, catalog)
            tmp.replace(mo_path)  # atomic: a concurrent start-up never reads half a file
        except OSError:  # a read-only install: it must ship compiled catalogs (`make i18n-compile`)
            log.warning("cannot compile the message catalog", extra={"catalog": str(po_path)}, exc_info=True)
            continue
        written.append(mo_path)
    return written


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    compile_catalogs()
    babel.init_app(app, locale_selector=select_locale)

    from app.core.api import fill_response_headers  # not at import: app.core.api's errors import this module

    fill_response_headers(app, _language_headers)  # in the one hook that completes every response's headers


def _language_headers(response: Any, present: dict[str, str], missing: list[tuple[str, str]]) -> None:
    if "content-language" not in present and has_request_context():
        missing.append(("Content-Language", locale_name().replace("_", "-")))
    if "vary" not in present:  # the usual case: no Vary header to parse
        missing.append(("Vary", "Accept-Language"))
    else:
        response.vary.add("Accept-Language")
