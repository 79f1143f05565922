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
    from app.core.http_request import InMemoryRequest

    app.request_class = InMemoryRequest  # uploads are parsed in memory only: plain text never touches disk
    app.config.from_mapping(config_obj.as_dict())
    app.config.update(overrides)
    app.config["ENV_NAME"] = config_obj.ENV_NAME

    from app.core.logging import configure_logging

    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    from app.core.api import register_request_hooks

    register_request_hooks(app)  # first: every later hook and handler sees the request id
    from app.core.security_headers import register_security_headers

    register_security_headers(app)
    if app.config["ENV_NAME"] == "staging":
        mark_staging(app)
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    from app.lifecycles import register_all

    register_all(app)  # every domain's personal-data lifecycle (app.core.lifecycle)
    return app


def mark_staging(app: Flask) -> None:
    """A staging deployment may talk to the WeChat sandbox: say so on every answer and in the log."""
    import logging

    logging.getLogger("app").warning("MIAOHUA_ENV=staging: not production (WeChat sandbox allowed: %s)",
                                     app.config["WECHAT_SANDBOX"])

    @app.after_request
    def staging_header(response):
        response.headers["X-Miaohua-Environment"] = "staging"
        return response


def register_extensions(app: Flask) -> None:
    from app.core import jobs
    from app.core.errors import AuthenticationRequired
    from app.extensions import db, login_manager, migrate

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        from app.core.db_pool import ping_when_idle

        with app.app_context():
            ping_when_idle(db.engine, app.config["DATABASE_PING_AFTER_IDLE_S"])
    from app.core import i18n  # zh_CN first, English on Accept-Language (docs/i18n.md)

    i18n.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    login_manager.init_app(app)

    @login_manager.unauthorized_handler
    def unauthorized():
        raise AuthenticationRequired()

    jobs.init_app(app)
    from app.core import ratelimit

    ratelimit.init_app(app)  # every RATE_LIMIT_* string parsed now: a typo stops the start
    from app.accounts import auth

    auth.init_app(app)
    from app import models  # noqa: F401 - registers every table on the metadata (migrations, create_all)


def register_blueprints(app: Flask) -> None:
    from app.accounts import cli as accounts_cli
    from app.accounts import views as accounts_views
    from app.consent import cli as consent_cli
    from app.consent import guards as consent_guards
    from app.consent import pages as policy_pages
    from app.consent import views as consent_views
    from app.core import health, openapi
    from app.generation import views as generation_views
    from app.ops import cli as ops_cli
    from app.ops import config_cli, keys_cli
    from app.orders import events as orders_events
    from app.orders import views as orders_views
    from app.privacy import export_views as privacy_export_views
    from app.privacy import views as privacy_views
    from app.uploads import cli as uploads_cli
    from app.uploads import views as uploads_views

    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(ops_cli.bp)
    app.register_blueprint(accounts_views.bp)
    app.register_blueprint(accounts_cli.bp)
    app.register_blueprint(keys_cli.bp)
    app.register_blueprint(config_cli.bp)  # flask config check | env-example | table
    app.register_blueprint(consent_views.bp)
    app.register_blueprint(uploads_views.bp)
    app.register_blueprint(uploads_views.wechat_push_bp)
    app.register_blueprint(uploads_cli.bp)
    from app.privacy import cli as privacy_cli  # flask privacy retention | replay-deletions | shutdown

    app.register_blueprint(privacy_cli.bp)
    app.register_blueprint(privacy_views.bp)
    app.register_blueprint(privacy_export_views.bp)
    app.register_blueprint(generation_views.bp)
    from app.generation import cli as generation_cli  # flask aigc inspect FILE

    app.register_blueprint(generation_cli.bp)
    app.register_blueprint(orders_views.bp)
    app.register_blueprint(orders_views.payments_bp)
    orders_events.connect()
    app.register_blueprint(consent_cli.bp)
    app.register_blueprint(policy_pages.bp)
    if app.config["DEMO_ENABLED"]:  # development and testing; production refuses it and never imports devkit
        register_demo(app)
    from app.staff import cli as staff_cli
    from app.staff import manage_views as staff_manage_views
    from app.staff import views as staff_views

    app.register_blueprint(staff_views.bp)  # /admin/api/session: staff login (issue #9)
    app.register_blueprint(staff_manage_views.bp)
    app.register_blueprint(staff_cli.bp)
    app.register_blueprint(staff_cli.audit_bp)
    from app.support import staff_views as support_staff_views
    from app.support import views as support_views

    app.register_blueprint(support_views.bp)  # /api/v1/tickets: reachable without accepting the policy
    app.register_blueprint(support_staff_views.bp)  # /admin/api/tickets
    if app.config["SMS_PROVIDER"] == "sandbox":  # never in production (config refuses it there)
        app.register_blueprint(accounts_views.dev_bp)
    # Reachable before (or without) accepting the policy: health, docs, login, profile and sessions,
    # the policy and consent themselves. Everything else needs the current policy accepted.
    consent_guards.exempt(health.bp, openapi.bp, accounts_views.bp, accounts_views.dev_bp, consent_views.bp,
                          policy_pages.bp, privacy_views.bp, privacy_export_views.bp, uploads_views.wechat_push_bp,
                          orders_views.payments_bp)
    consent_guards.exempt(support_views.bp, support_staff_views.bp)
    from app.admin.blueprints import admin_blueprints  # the staff JSON API: users, orders, rights, dashboard

    for admin_bp in admin_blueprints():
        app.register_blueprint(admin_bp)
    consent_guards.exempt(*admin_blueprints())
    from app.admin import console as admin_console  # /admin/: the staff console page (static/admin/)

    app.register_blueprint(admin_console.bp)
    consent_guards.exempt(admin_console.bp)
    consent_guards.exempt(staff_views.bp, staff_manage_views.bp)  # staff never accept the user policy
    from app.notices import cli as notices_cli
    from app.notices import staff_views as notices_staff_views
    from app.notices import views as notices_views

    # Notices (incidents, company transfer, shutdown) reach users whether or not they accepted the current policy.
    app.register_blueprint(notices_views.bp)
    app.register_blueprint(notices_staff_views.bp)
    app.register_blueprint(notices_cli.bp)
    consent_guards.exempt(notices_views.bp, notices_staff_views.bp)
    from app import monitoring  # /metrics (token-protected), request metrics, job/payment event counters
    from app.monitoring import views as monitoring_views

    monitoring.init_app(app)
    consent_guards.exempt(monitoring_views.bp)
    consent_guards.init_app(app)


def register_demo(app: Flask) -> None:
    """/demo/ (the simulated mini-program) and ``flask demo run``: development tools from devkit/, a package
    the production image leaves out (.dockerignore)."""
    try:
        from devkit.demo import cli as demo_cli
        from devkit.demo import views as demo_views
    except ModuleNotFoundError as missing:
        from app.config import ConfigError

        raise ConfigError(f"DEMO_ENABLED needs the devkit package, which this installation lacks ({missing}); "
                          "unset DEMO_ENABLED") from missing
    app.register_blueprint(demo_cli.bp)
    app.register_blueprint(demo_views.bp)  # its sandbox proxy exists only while WECHAT_SANDBOX is on


def register_errorhandlers(app: Flask) -> None:
    from app.core.errors import register_error_handlers

    register_error_handlers(app)
    if app.config.get("OPENAPI_CHECK_ERRORS"):  # tests: every error answered must be in the document
        from app.core.openapi import check_documented_errors

        check_documented_errors(app)
