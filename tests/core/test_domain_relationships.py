"""No ORM relationship crosses domains: a domain's rows are navigated only by its own code (issue #15).

import-linter keeps a domain from importing another domain's ``models``, but ``relationship("User")``
names the class by string and needs no import: ``ticket.user.phone_masked`` would read the accounts
table from support code without import-linter seeing it. This walks every mapper and fails on each
relationship whose target class lives in another domain's package (``app.<domain>``). ``app.core``
owns the shared tables every domain may point at (stored objects): a target there is allowed, as
importing ``app.core`` is. Foreign keys across domains stay (they are the schema's integrity and its
ON DELETE rules); what another domain needs of the row comes from the owning domain's public code.
"""

from __future__ import annotations

from sqlalchemy import inspect

from app.extensions import db

SHARED = "core"  # app.core: imports no domain; its models (StoredObject) are everyone's


def domain_of(module: str) -> str:
    """``app.support.models`` → ``support``; anything outside ``app`` is its own top-level package."""
    parts = module.split(".")
    return parts[1] if parts[0] == "app" and len(parts) > 1 else parts[0]


def relationships(app) -> list[tuple[str, str, str, str]]:
    """(source class, attribute, target class, each with its module) for every mapped relationship."""
    with app.app_context():
        found = []
        for mapper in db.Model.registry.mappers:
            for rel in inspect(mapper.class_).relationships:
                source, target = mapper.class_, rel.mapper.class_
                found.append((f"{source.__module__}.{source.__name__}", rel.key,
                              f"{target.__module__}.{target.__name__}", target.__module__))
        return found


def test_no_relationship_reaches_another_domain_s_model(app):
    found = relationships(app)
    # The walk sees the relationships it judges: within a domain, and to app.core's stored objects.
    keys = {(source.rsplit(".", 1)[1], key) for source, key, _, _ in found}
    assert {("Ticket", "messages"), ("Order", "events"), ("GenerationResult", "original")} <= keys
    offenders = [f"{source}.{key} -> {target}" for source, key, target, target_module in found
                 if domain_of(target_module) not in (domain_of(source.rsplit(".", 1)[0]), SHARED)]
    assert offenders == [], (
        "ORM relationships across domains (keep the foreign key, drop the relationship, and read what is needed "
        "through the owning domain's public code, in batches):\n" + "\n".join(sorted(offenders)))


def test_domain_of():
    assert domain_of("app.support.models") == "support"
    assert domain_of("app.privacy.export_models") == "privacy"
    assert domain_of("app.core.objects") == "core"
    assert domain_of("devkit.demo.models") == "devkit"
