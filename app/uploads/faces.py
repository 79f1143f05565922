"""Face quality check with the face detector shipped in mediapipe (detection only: no embeddings)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.uploads.images import ImageRejected


def check_face(image: Image.Image) -> None:
    """Raise ``ImageRejected`` with the first quality problem (no face, several, small, blurry, dark).

    ``image`` is the normalised photo already reduced for analysis (``NormalisedImage.analysis``).
    """
    from workers.generators.analysis import analyse_portrait, check_quality

    problems = check_quality(analyse_portrait(np.asarray(image.convert("RGB")), with_landmarks=False,
                                              with_mask=False))
    if problems:
        raise ImageRejected(problems[0])
