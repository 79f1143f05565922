"""Face quality check with the face detector shipped in mediapipe (detection only: no embeddings)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from app.uploads.images import ImageRejected

ANALYSIS_LONG_SIDE = 1024


def check_face(jpeg: bytes) -> None:
    """Raise ``ImageRejected`` with the first quality problem (no face, several, small, blurry, dark)."""
    from workers.generators.analysis import analyse_portrait, check_quality

    with Image.open(io.BytesIO(jpeg)) as image:
        image.thumbnail((ANALYSIS_LONG_SIDE, ANALYSIS_LONG_SIDE))
        rgb = np.asarray(image.convert("RGB"))
    problems = check_quality(analyse_portrait(rgb, with_landmarks=False, with_mask=False))
    if problems:
        raise ImageRejected(problems[0])
