"""Benchmarks of the Miaohua backend under gunicorn, each against a baseline in the same run.

Run them all with ``.venv/bin/python -m bench`` from the repository root (see bench/README.md).
"""
