"""WSGI entry point: ``gunicorn wsgi:app`` (configuration comes from the environment)."""

from app import create_app

app = create_app()
