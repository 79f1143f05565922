"""The staff API's blueprints, registered together (and exempt from the user consent guard: staff never
accept the user privacy policy; ``staff_required`` guards them instead)."""

from __future__ import annotations

from flask import Blueprint


def admin_blueprints() -> tuple[Blueprint, ...]:
    from . import dashboard, labels_views, order_views, rights_views, user_views

    return user_views.bp, order_views.bp, rights_views.bp, dashboard.bp, labels_views.bp
