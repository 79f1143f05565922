"""Migrations: one head, head == models on PostgreSQL, and a clean way back down."""

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app.extensions import db, migrate
from tests.conftest import TEST_DATABASE_URL, make_app


def script_directory(app) -> ScriptDirectory:
    with app.app_context():
        config = migrate.get_config()
    return ScriptDirectory.from_config(config)


def test_migrations_have_a_single_head(app):
    assert len(script_directory(app).get_heads()) == 1


def test_every_revision_has_a_downgrade(app):
    for revision in script_directory(app).walk_revisions():
        assert revision.module.downgrade.__code__.co_code, revision.revision


@pytest.fixture
def empty_postgres_app() -> Iterator:
    """An app bound to a brand-new, empty PostgreSQL database, dropped afterwards."""
    server_url = make_url(TEST_DATABASE_URL).set(drivername="postgresql+psycopg")
    name = f"mh_migrations_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    app = make_app(SQLALCHEMY_DATABASE_URI=server_url.set(database=name).render_as_string(hide_password=False),
                   SQLALCHEMY_ENGINE_OPTIONS={})
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def model_differences(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def user_tables(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


@pytest.mark.postgres
def test_upgrade_of_an_empty_postgres_database_gives_exactly_the_models(empty_postgres_app):
    app = empty_postgres_app
    with app.app_context():
        upgrade()
    assert user_tables(app) == set(db.metadata.tables)
    assert model_differences(app) == []


@pytest.mark.postgres
def test_downgrade_to_base_and_up_again_on_postgres(empty_postgres_app):
    app = empty_postgres_app
    with app.app_context():
        upgrade()
        downgrade(revision="base")
    assert user_tables(app) == set()
    with app.app_context():
        upgrade()
    assert model_differences(app) == []


def test_upgrade_and_downgrade_on_sqlite(tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'm.db'}", SQLALCHEMY_ENGINE_OPTIONS={})
    with app.app_context():
        upgrade()
    assert user_tables(app) == set(db.metadata.tables)
    assert model_differences(app) == []
    with app.app_context():
        downgrade(revision="base")
    assert user_tables(app) == set()
