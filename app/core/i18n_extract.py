"""Babel extraction method for the app's Python code (``babel.cfg`` names it; ``make i18n`` runs it).

On top of Babel's own Python extractor (``_``, ``_l``, ``N_``, ``gettext``, ``ngettext``, ``lazy_gettext``) it finds
the user-facing texts the code writes as plain English literals, so call sites need no marker:

- the default ``message`` of every ``ApiError`` subclass (class attribute, tuple assignments included);
- the message given where an ``ApiError`` subclass is built: its first positional argument or ``message=``;
- any ``message="…"`` keyword argument and any ``{"message": "…"}`` dict entry (validation details);
- the English name of each ``StyleSpec(id, kind, params, name_zh, name_en)`` of the style catalogue
  (``workers/generators/styles.py``), which the zh_CN catalog maps to its Chinese name.

``ApiError`` subclasses are found by name over ``app/`` and ``devkit/demo/`` (a class whose base is
``ApiError`` or one of its subclasses), so a new error class is picked up without configuration. The same
walk serves the catalog test (tests/i18n), which lists every such text the zh_CN catalog lacks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.extract import extract_python

APP_DIR = Path(__file__).resolve().parent.parent
ROOT_ERROR = "ApiError"
STYLE_SPEC = "StyleSpec"
STYLE_NAME_EN_INDEX = 4  # StyleSpec(id, kind, params, name_zh, name_en)
# Not user-facing: the developer tools' own servers answer developers (English only).
SKIPPED_DIRS = ("wechat_sandbox",)


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _text(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return node.value
    return None


def app_sources() -> list[Path]:
    """The app's code and the demo's (devkit/demo: its error texts are shown by the demo page)."""
    roots = [APP_DIR, APP_DIR.parent / "devkit" / "demo"]
    return [path for root in roots if root.is_dir() for path in sorted(root.rglob("*.py"))
            if not any(part in SKIPPED_DIRS for part in path.relative_to(root).parts)]


@cache
def api_error_names() -> frozenset[str]:
    """Names of ``ApiError`` and every class deriving from it, anywhere in app/."""
    bases: dict[str, set[str]] = {}
    for path in app_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(filter(None, (_name(b) for b in node.bases)))
    names = {ROOT_ERROR}
    changed = True
    while changed:
        changed = False
        for name, parents in bases.items():
            if name not in names and parents & names:
                names.add(name)
                changed = True
    return frozenset(names)


def _class_messages(node: ast.ClassDef) -> Iterator[tuple[int, str]]:
    for stmt in node.body:
        if not isinstance(stmt, ast.Assign):
            continue
        for target in stmt.targets:
            if isinstance(target, ast.Name) and target.id == "message" and _text(stmt.value):
                yield stmt.lineno, _text(stmt.value)  # type: ignore[misc]
            elif isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple):
                for element, value in zip(target.elts, stmt.value.elts, strict=False):
                    if isinstance(element, ast.Name) and element.id == "message" and _text(value):
                        yield stmt.lineno, _text(value)  # type: ignore[misc]


def literal_messages(source: str) -> Iterator[tuple[int, str, str]]:
    """(line, message, where) for the unmarked user-facing literals of one module."""
    errors = api_error_names()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name in errors:
            for lineno, text in _class_messages(node):
                yield lineno, text, f"class {node.name}"
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            if name == STYLE_SPEC:
                name_en = node.args[STYLE_NAME_EN_INDEX] if len(node.args) > STYLE_NAME_EN_INDEX else next(
                    (k.value for k in node.keywords if k.arg == "name_en"), None)
                if _text(name_en):
                    yield node.lineno, _text(name_en), "style name"  # type: ignore[misc]
            if name in errors and node.args and _text(node.args[0]):
                yield node.lineno, _text(node.args[0]), name  # type: ignore[misc]
            for keyword in node.keywords:
                if keyword.arg == "message" and _text(keyword.value):
                    yield node.lineno, _text(keyword.value), f"{name}(message=)"  # type: ignore[misc]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=False):
                if key is not None and _text(key) == "message" and _text(value):
                    yield node.lineno, _text(value), '{"message": …}'  # type: ignore[misc]


def extract(fileobj, keywords: Any, comment_tags: Any, options: dict) -> Iterator[tuple]:
    """Babel extraction method: Babel's Python extractor, then the unmarked literals."""
    source = fileobj.read()
    fileobj.seek(0)
    yield from extract_python(fileobj, keywords, comment_tags, options)
    text = source.decode(options.get("encoding", "utf-8")) if isinstance(source, bytes) else source
    seen: set[tuple[int, str]] = set()
    for lineno, message, _where in literal_messages(text):
        if (lineno, message) not in seen:
            seen.add((lineno, message))
            yield lineno, None, message, []
