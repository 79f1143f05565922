"""Run a worker: ``python -m workers --queues generation`` (see docs/deploying.md)."""

from __future__ import annotations

import argparse
import logging
import sys

from rq import Queue

from app import create_app
from app.core.jobs import GENERATION_QUEUE, QUEUE_NAMES, redis_connection
from workers.base import AppSimpleWorker, AppWorker
from workers.preload import preload_generation_stack

log = logging.getLogger("workers")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--queues", nargs="+", choices=QUEUE_NAMES, default=list(QUEUE_NAMES),
                        help="queues to consume, in priority order (default: all)")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--simple", action="store_true",
                        help="run jobs in this process instead of forking a work horse per job")
    parser.add_argument("--name", help="worker name (default: RQ's random name)")
    parser.add_argument("--metrics-port", type=int, help="serve this worker's /metrics on this port "
                        "(needs METRICS_TOKEN, and PROMETHEUS_MULTIPROC_DIR unless --simple)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app = create_app()
    with app.app_context():
        connection = redis_connection(app)
    queues = [Queue(name, connection=connection) for name in args.queues]
    worker_class = AppSimpleWorker if args.simple else AppWorker
    if not args.simple and GENERATION_QUEUE in args.queues:
        # Before any fork (and before the exporter's thread): every work horse inherits the imports instead of
        # redoing them on the job's clock. --simple imports them once with its first job anyway.
        preload_generation_stack(app)
    if args.metrics_port is not None:
        from app.monitoring.exporter import start_worker_exporter

        start_worker_exporter(app, args.metrics_port, forking=not args.simple)
    worker = worker_class(queues, connection=connection, name=args.name, flask_app=app)
    log.info("worker starting", extra={"queues": args.queues, "worker_class": worker_class.__name__})
    worker.work(burst=args.burst, logging_level=app.config["LOG_LEVEL"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
