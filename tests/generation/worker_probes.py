"""Jobs that report on the work horse that runs them. Imports nothing but ``sys``: whatever heavy module a probe
finds loaded was inherited from the worker process it was forked from, not imported by the probe."""

import sys


def inherited_state(module_names: list[str]) -> dict:
    """Which of ``module_names`` were already imported when the job started, and whether mediapipe graphs were."""
    analysis = sys.modules.get("workers.generators.analysis")
    return {"loaded": {name: name in sys.modules for name in module_names},
            "graphs_built": bool(analysis and analysis._state["graphs_built"])}
