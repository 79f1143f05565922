"""One process of the multiprocess test: ``python -m tests.monitoring.multiprocess_child serve|scrape N``.

``serve N`` answers N requests through the real app (its request hook records them) and rejects one
payment notification; ``scrape`` prints the app's ``/metrics`` page. The test runs several of these
with one ``PROMETHEUS_MULTIPROC_DIR`` — separate processes, as gunicorn's workers are.
"""

from __future__ import annotations

import sys

from app import create_app
from app.core import events
from app.extensions import db


def main(role: str, count: int) -> None:
    app = create_app({"ENV": "testing", "LOG_LEVEL": "WARNING"})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    if role == "serve":
        for _ in range(count):
            assert client.get("/healthz").status_code == 200
        with app.app_context():
            events.payment_notification_rejected.send(app, reason="bad signature")
    else:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {app.config['METRICS_TOKEN']}"})
        assert response.status_code == 200, response.get_data(as_text=True)
        sys.stdout.write(response.get_data(as_text=True))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
