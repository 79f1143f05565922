"""Run the periodic-job scheduler: ``python -m workers.scheduler`` (see app/ops/periodic.py)."""

from __future__ import annotations

import sys

from app import create_app
from app.core.jobs import redis_connection
from app.ops.periodic import build_scheduler


def main() -> int:
    app = create_app()
    build_scheduler(app, redis_connection(app)).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
