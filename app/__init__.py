"""Miaohua (秒画) backend: the Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.config import BaseConfig, load_config


def create_app(config: BaseConfig | str | dict[str, Any] | None = None) -> Flask:
    """Build the app.

    ``config`` is a config object, an environment name (``development``/``testing``/``production``)
    or a dict of overrides applied on top of the environment's config (tests use this).
    """
    if isinstance(config, BaseConfig):
        config_obj = config
        overrides: dict[str, Any] = {}
    elif isinstance(config, dict):
        overrides = dict(config)
        config_obj = load_config(overrides.pop("ENV", None))
    else:
        config_obj = load_config(config)
        overrides = {}

    app = Flask(__name__, static_folder="../static", static_url_path="/static")
    app.config.from_mapping(config_obj.as_dict())
    app.config.update(overrides)
    app.config["ENV_NAME"] = config_obj.ENV_NAME

    from app.core.logging import configure_logging

    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    return app


def register_extensions(app: Flask) -> None:
    from app.core import jobs
    from app.core.errors import AuthenticationRequired
    from app.extensions import db, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    login_manager.init_app(app)

    @login_manager.unauthorized_handler
    def unauthorized():
        raise AuthenticationRequired()

    jobs.init_app(app)
    from app import models  # noqa: F401 - registers every table on the metadata (migrations, create_all)


def register_blueprints(app: Flask) -> None:
    from app.core import health, openapi
    from app.ops import cli as ops_cli

    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(ops_cli.bp)


def register_errorhandlers(app: Flask) -> None:
    from app.core.api import register_request_hooks
    from app.core.errors import register_error_handlers

    register_request_hooks(app)
    register_error_handlers(app)
