"""Reading the zh_CN catalog and listing what it lacks: shared by the catalog tests and ``make i18n-check``."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app.core.i18n import catalog_path
from app.core.i18n_extract import _name, _text, api_error_names, app_sources

ROOT = Path(__file__).resolve().parents[2]
# The keywords `make i18n` passes to pybabel extract (besides Babel's defaults).
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "N_": None,
            "_invalid": (2,)}


@cache
def zh_catalog() -> Catalog:
    with catalog_path("zh_CN").open("rb") as po_file:
        return read_po(po_file)


def is_translated(msgid: str) -> bool:
    message = zh_catalog().get(msgid)
    return bool(message is not None and message.string and not message.fuzzy)


def zh(msgid: str) -> str | None:
    message = zh_catalog().get(msgid)
    return message.string if message is not None and not message.fuzzy else None


def lazy_msgid(label) -> str:
    """The English msgid of an ``_l(...)`` lazy string."""
    return label._args[0]


def extracted_messages() -> dict[str, list[str]]:
    """What ``make i18n`` would extract: msgid -> where (file:line)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords={**KEYWORDS}):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def untranslated() -> dict[str, list[str]]:
    return {msgid: where for msgid, where in extracted_messages().items() if not is_translated(msgid)}


def import_app_modules() -> None:
    import app

    for module in pkgutil.walk_packages(app.__path__, "app."):
        if ".wechat_sandbox" not in module.name:
            importlib.import_module(module.name)


def all_subclasses(cls) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


def raise_sites() -> Iterator[tuple[str, int, str, str | None, ast.AST | None]]:
    """(file, line, error class, code literal or None, message node or None) for every ApiError built in app/."""
    errors = api_error_names()
    for path in app_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node.func) in errors:
                code = next((k.value for k in node.keywords if k.arg == "code"), None)
                message = node.args[0] if node.args else next(
                    (k.value for k in node.keywords if k.arg == "message"), None)
                yield (str(path.relative_to(ROOT)), node.lineno, _name(node.func), _text(code) if code else None,
                       message)


def message_msgid(node: ast.AST | None) -> str | None:
    """The msgid of a literal or ``_l("…", …)``/``N_("…")``/``_("…")`` message argument, else None."""
    if _text(node):
        return _text(node)
    if isinstance(node, ast.Call) and _name(node.func) in ("_l", "N_", "_", "gettext", "lazy_gettext") and node.args:
        return _text(node.args[0])
    return None


def answered_codes(app) -> dict[str, set[str]]:
    """Every error code any view (user API, staff API, callbacks) declares it answers: code -> endpoints."""
    from app.core.openapi import operation_errors

    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        spec = getattr(view, "api_spec", None)
        if spec is None:
            continue
        for codes in operation_errors(app, rule.endpoint, view, spec, bool(rule.arguments)).values():
            for code in codes:
                found.setdefault(code, set()).add(rule.endpoint)
    return found


def _helper_sites() -> Iterator[tuple[str, int, str, ast.AST | None]]:
    """(file, line, code, message node) for the error-building helpers that take the code as a literal argument:
    ``_invalid(field, message, "code")`` (app/staff/manage.py)."""
    for path in app_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node.func) == "_invalid" and len(node.args) == 3 \
                    and _text(node.args[2]):
                yield str(path.relative_to(ROOT)), node.lineno, _text(node.args[2]), node.args[1]  # type: ignore


def code_messages() -> dict[str, list[tuple[str, str | None]]]:
    """code -> [(where, English msgid or None when it cannot be read statically)] for every message an error with
    that code can carry: the ``ApiError`` class defaults, each raise site naming the code, the HTTP statuses'
    default codes."""
    from app.core.errors import STATUS_CODES, STATUS_MESSAGES, ApiError

    import_app_modules()
    classes = {cls.__name__: cls for cls in (ApiError, *all_subclasses(ApiError))}
    found: dict[str, list[tuple[str, str | None]]] = {}
    for cls in classes.values():
        found.setdefault(cls.code, []).append((f"{cls.__module__}.{cls.__name__}", cls.message))
    for status, code in STATUS_CODES.items():
        found.setdefault(code, []).append((f"STATUS_MESSAGES[{status}]", STATUS_MESSAGES.get(status)))
    for path, line, cls_name, code, node in raise_sites():
        cls = classes.get(cls_name)
        code = code or (cls.code if cls else None)
        if code is None:
            continue
        msgid = cls.message if node is None and cls else message_msgid(node)
        found.setdefault(code, []).append((f"{path}:{line}", msgid))
    for path, line, code, node in _helper_sites():
        found.setdefault(code, []).append((f"{path}:{line}", message_msgid(node)))
    return found
