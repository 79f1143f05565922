"""app/privacy orchestrates through the lifecycle registry: it names no other domain's table (issue #15).

import-linter keeps it from importing other domains' models; this keeps it from reaching their tables by
name (``db.metadata.tables["sms_codes"]``), which import-linter cannot see.
"""

import ast
from pathlib import Path

from app.extensions import db

PRIVACY = Path(__file__).resolve().parents[2] / "app" / "privacy"


def foreign_tables(app) -> dict[str, str]:
    """Table name → the module of its model, for every table not owned by privacy or core."""
    with app.app_context():
        owners = {mapper.local_table.name: mapper.class_.__module__ for mapper in db.Model.registry.mappers}
    return {name: module for name, module in owners.items()
            if not module.startswith(("app.privacy.", "app.core."))}


def table_lookups(node: ast.AST) -> list[str]:
    """Table names looked up in ``node``: ``….tables["x"]``, ``Table("x", …)``, ``_table("x")``, ``table("x")``.

    (Category names such as "orders" or "devices" are API words shared with table names: not lookups.)"""
    if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("tables"):
        key = node.slice
        return [key.value] if isinstance(key, ast.Constant) and isinstance(key.value, str) else []
    if isinstance(node, ast.Call) and "table" in ast.unparse(node.func).lower():
        return [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return []


def test_privacy_names_no_other_domain_s_table(app):
    foreign = foreign_tables(app)
    assert {"users", "sms_codes", "orders"} <= set(foreign)  # the check sees the tables it guards
    named = []
    for path in sorted(PRIVACY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for name in table_lookups(node):
                if name in foreign:
                    named.append(f"{path.name}:{node.lineno} {name!r} (owned by {foreign[name]})")
    assert named == [], "use the lifecycle registry (app.core.lifecycle) instead:\n" + "\n".join(named)
