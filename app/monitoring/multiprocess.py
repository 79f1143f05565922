"""Several processes, one set of numbers: prometheus_client's multiprocess mode, and the scrape registry.

gunicorn runs several web workers; each records its own requests. With ``PROMETHEUS_MULTIPROC_DIR``
set in the environment *before the app is imported*, every process writes its counters and histograms
to per-process files in that directory and a scrape adds them up, so restarting or adding workers
never loses or splits counts. The wiring for ``gunicorn.conf.py`` (docs/staff.md: "Monitoring and alerts")::

    from app.monitoring.multiprocess import child_exit, on_starting  # noqa: F401 - gunicorn hooks

``on_starting`` empties the directory when the master starts (values of a previous run must not be
added to this one's); ``child_exit`` tells prometheus_client a worker died (its live gauges go; its
counters stay, as they must). Use one directory per process group (gunicorn; each RQ worker), never
a shared one: each group's starter empties its own.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, multiprocess, values
from prometheus_client.core import Metric

log = logging.getLogger(__name__)

_VALUE_FILE = re.compile(r"^[a-z_]+_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def multiprocess_enabled() -> bool:
    """Whether this process's values are in files (decided by prometheus_client when it was imported)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False)) and multiprocess_dir() is not None


def clear_multiprocess_dir(path: str | None = None, keep_pid: int | None = None) -> int:
    """Delete the value files of a previous run (all, or all but ``keep_pid``'s); returns how many."""
    path = path or multiprocess_dir()
    if not path:
        return 0
    os.makedirs(path, exist_ok=True)
    removed = 0
    for filename in glob.glob(os.path.join(path, "*.db")):
        match = _VALUE_FILE.match(os.path.basename(filename))
        if match and keep_pid is not None and int(match.group(1)) == keep_pid:
            continue
        os.remove(filename)
        removed += 1
    return removed


def on_starting(server: Any) -> None:
    """gunicorn hook: the master is starting, no worker has written anything of this run yet."""
    removed = clear_multiprocess_dir()
    if removed:
        log.info("metrics: cleared the multiprocess directory", extra={"files": removed})


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: a worker exited; drop its live gauges, keep its counters in the totals."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(worker.pid)


class _ThisProcess:
    """This process's own values (single-process mode): the metrics module's registry."""

    def collect(self) -> Iterator[Metric]:
        from .metrics import REGISTRY

        yield from REGISTRY.collect()


def scrape(include_shared_state: bool = True) -> bytes:
    """The Prometheus text for one scrape.

    Recorded values come from every process (multiprocess mode) or this one; the shared-state gauges
    (queues, deletion backlog; they need an app context) are added once, by the scraping process.
    """
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_enabled():
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir())
    else:
        registry.register(_ThisProcess())
    if include_shared_state:
        from .collectors import SharedStateCollector

        registry.register(SharedStateCollector())
    return generate_latest(registry)
