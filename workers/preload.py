"""Warm a forking generation worker before it forks any work horse (issue #6: enqueue-to-start under 100 ms).

RQ's forking worker runs every job in a fresh child of the worker process. Whatever the parent has not done, each
child does again, on the job's clock: importing OpenCV, numpy, Pillow, mediapipe's Python package and the job's own
modules (about 0.9 s of CPU per ``pop_art`` job), configuring the SQLAlchemy mappers, loading Pillow's format
plugins. Done once here, before the first fork, the children inherit all of it (copy-on-write).

What is **not** done here, on purpose: building mediapipe graphs (loading its models). A child forked from a process
that built one aborts when it uses one (``workers.generators.analysis``); importing the package is safe, loading
models is not. ``assert_no_models_loaded`` checks that, and the work horses still load the models per job. Nor does
the parent keep a database connection: ``AppWorker`` disposes the engine before each fork so no child shares one.
"""

from __future__ import annotations

import gc
import importlib
import logging
import time

from flask import Flask

log = logging.getLogger(__name__)

# What a generation job imports between being dequeued and returning: the task (and through it the runner, its
# services, notifications and previews), the likeness check, and the generator modules (cv2, numpy, PIL, mediapipe).
GENERATION_JOB_MODULES: tuple[str, ...] = (
    "app.generation.tasks",
    "app.generation.runner",
    "app.generation.likeness",
    "app.generation.previews",
    "workers.generators",
    "workers.generators.imaging",
    "workers.generators.analysis",
)


class ModelsLoadedBeforeFork(RuntimeError):
    """Preloading built a mediapipe graph in the parent: every work horse would then fail its generation."""


def backend_module(app: Flask) -> str | None:
    """The module of the configured generation backend (``GENERATION_BACKEND``), imported but not instantiated."""
    from workers.generators import base

    factory = base._FACTORIES.get(app.config["GENERATION_BACKEND"])
    return factory.partition(":")[0] if isinstance(factory, str) else None


def assert_no_models_loaded() -> None:
    from workers.generators import analysis

    if analysis._state["graphs_built"]:
        raise ModelsLoadedBeforeFork("a mediapipe graph was built in the forking worker's parent; work horses "
                                     "forked from it cannot run generations")


def preload_generation_stack(app: Flask) -> list[str]:
    """Import what generation jobs need and warm what is fork-safe; returns the modules imported.

    A backend whose packages are not installed (the diffusion stack on a CPU box) is skipped with a warning: the
    jobs then fail with ``generator_unavailable`` exactly as they would without the preload.
    """
    started = time.perf_counter()
    modules = list(GENERATION_JOB_MODULES)
    backend = backend_module(app)
    if backend is not None:
        modules.append(backend)
    imported = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.warning("preload: cannot import %s (%s); its jobs will import it themselves", name, exc)
            continue
        imported.append(name)

    from PIL import Image
    from sqlalchemy.orm import configure_mappers

    Image.init()  # every format plugin: an upload in a format outside Pillow's preinit set would load them all
    with app.app_context():
        configure_mappers()  # else the first query of every work horse configures every mapper of the app
    assert_no_models_loaded()
    # Move everything imported so far out of the collector's reach: a work horse's collections then never walk
    # (and so never copy-on-write) the inherited objects.
    gc.collect()
    gc.freeze()
    log.info("generation worker preloaded", extra={"modules": imported,
                                                    "seconds": round(time.perf_counter() - started, 3)})
    return imported
