"""Face quality check with the face detector shipped in mediapipe (detection only: no embeddings)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.uploads.images import ImageRejected


def warm_up() -> None:
    """Import the face detector and build its graph now, in this process (a web worker, after the fork).

    Otherwise the first upload a worker serves pays for it: about 0.7 s of importing mediapipe and 40 ms of
    building the graph, measured 2026-12-06 (the graph must be built after the fork: ``analysis.py``).
    """
    from workers.generators.analysis import analyse_portrait

    analyse_portrait(np.full((64, 64, 3), 128, np.uint8), with_landmarks=False, with_mask=False)


def check_face(image: Image.Image) -> None:
    """Raise ``ImageRejected`` with the first quality problem (no face, several, small, blurry, dark).

    ``image`` is the normalised photo already reduced for analysis (``NormalisedImage.analysis``).
    """
    from workers.generators.analysis import analyse_portrait, check_quality

    # ``normalise`` gives RGB already: ``convert`` would copy it first, and the array of a fresh copy costs
    # ~10 ms a 1024 px photo against ~0.7 ms for the image itself (2026-12-06, Pillow 13), a third of the upload's
    # image work.
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    problems = check_quality(analyse_portrait(np.asarray(rgb), with_landmarks=False, with_mask=False))
    if problems:
        raise ImageRejected(problems[0])
