"""Face quality check with the face detector shipped in mediapipe (detection only: no embeddings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from app.uploads.images import ImageRejected

if TYPE_CHECKING:  # mediapipe is imported on first use, not with the web app
    from workers.generators.analysis import PortraitAnalysis


def warm_up() -> None:
    """Import the face detector and build its graph now, in this process (a web worker, after the fork).

    Otherwise the first upload a worker serves pays for it: about 0.7 s of importing mediapipe and 40 ms of
    building the graph, measured 2026-12-06 (the graph must be built after the fork: ``analysis.py``).
    """
    from workers.generators.analysis import analyse_portrait

    analyse_portrait(np.full((64, 64, 3), 128, np.uint8), with_landmarks=False, with_mask=False)


# The face detector (BlazeFace full range) sees a 192x192 copy of whatever it is given, so it is given a copy
# at most this wide: the array of the whole photo cost a gunicorn worker 4.5-6.2 ms of CPU a 1024 px upload
# (fresh 3 MB buffers, page faults), about a seventh of the upload (measured 2026-12-06). The sharpness and
# brightness are still measured on the face box at the analysis image's own resolution, as before.
DETECTION_LONG_SIDE = 512


def check_face(image: Image.Image) -> None:
    """Raise ``ImageRejected`` with the first quality problem (no face, several, small, blurry, dark).

    ``image`` is the normalised photo already reduced for analysis (``NormalisedImage.analysis``).
    """
    from workers.generators.analysis import check_quality

    problems = check_quality(analyse(image if image.mode == "RGB" else image.convert("RGB")))
    if problems:
        raise ImageRejected(problems[0])


def analyse(rgb: Image.Image) -> PortraitAnalysis:
    """What ``check_quality`` reads, for an RGB image: a ``PortraitAnalysis`` without landmarks and with an empty
    mask (0×0)."""
    from workers.generators.analysis import (
        PortraitAnalysis,
        detect_faces,
        region_brightness,
        region_sharpness,
        scale_faces,
    )

    width, height = rgb.size
    factor = -(-max(width, height) // DETECTION_LONG_SIDE)  # ceil
    small = rgb.reduce(factor) if factor > 1 else rgb
    faces = scale_faces(detect_faces(np.asarray(small)), width / small.width, height / small.height)
    main = faces[0] if faces else None
    sharpness = brightness = 0.0
    if main is not None:
        box = (round(main.x), round(main.y), round(main.x + main.w), round(main.y + main.h))
        region = np.asarray(rgb.crop(box))
        sharpness, brightness = region_sharpness(region), region_brightness(region)
    return PortraitAnalysis(width=width, height=height, faces=faces, landmarks=None,
                            person_mask=np.zeros((0, 0), np.float32), face_fraction=main.w / min(width, height)
                            if main else 0.0, face_px=main.w if main else 0.0, sharpness=sharpness,
                            brightness=brightness)
