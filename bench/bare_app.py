"""The baseline: the smallest Flask JSON endpoint (``gunicorn bench.bare_app:app``).

Every benchmark's subject is compared with this app, served by the same gunicorn settings in the
same run, so the ratio says how much our stack costs on top of Flask + gunicorn themselves.
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def status():
    return jsonify({"data": {"status": "ok"}})
