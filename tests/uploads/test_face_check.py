"""The upload's face check finds faces in a copy at most 512 px wide (``DETECTION_LONG_SIDE``), and measures the
face box at the photo's own resolution: its figures match the full-size analysis the generators run, and so do
its verdicts."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.uploads import faces, images
from tests.uploads import images as samples
from workers.generators.analysis import analyse_portrait, check_quality


def _analysis_image(data: bytes) -> Image.Image:
    return images.normalise(data, max_pixels=50_000_000, min_side=64).analysis


def _portrait_at(side: int) -> bytes:
    return samples.encode(samples.portrait().resize((side, side), Image.Resampling.LANCZOS), quality=92)


@pytest.mark.parametrize("data", [_portrait_at(1024), _portrait_at(2048), _portrait_at(700),
                                  samples.encode(samples.portrait().transpose(Image.Transpose.FLIP_LEFT_RIGHT))],
                         ids=["1024", "2048", "700", "mirrored"])
def test_the_figures_match_the_full_size_analysis(data):
    image = _analysis_image(data)
    quick = faces.analyse(image)
    full = analyse_portrait(np.asarray(image), with_landmarks=False, with_mask=False)
    assert (quick.width, quick.height) == image.size
    assert len(quick.faces) == len(full.faces) == 1
    assert quick.face_px == pytest.approx(full.face_px, rel=0.03)
    assert quick.faces[0].x == pytest.approx(full.faces[0].x, abs=0.02 * full.face_px)
    assert quick.faces[0].y == pytest.approx(full.faces[0].y, abs=0.02 * full.face_px)
    assert quick.face_fraction == pytest.approx(full.face_fraction, rel=0.03)
    assert quick.sharpness == pytest.approx(full.sharpness, rel=0.1)
    assert quick.brightness == pytest.approx(full.brightness, abs=2)


@pytest.mark.parametrize("make, reason", [(samples.no_face, "no_face"), (samples.two_faces, "multiple_faces"),
                                          (samples.blurry, "too_blurry"), (samples.dark, "too_dark"),
                                          (samples.small_face, "face_too_small"), (lambda: _portrait_at(1024), None)])
def test_the_verdicts_match_the_full_size_analysis(make, reason):
    image = _analysis_image(make())
    full = check_quality(analyse_portrait(np.asarray(image), with_landmarks=False, with_mask=False))
    quick = check_quality(faces.analyse(image))
    assert quick == full
    assert (quick[0] if quick else None) == reason


def test_a_large_photo_is_searched_in_a_small_copy(monkeypatch):
    seen = []
    from workers.generators import analysis

    detect = analysis.detect_faces
    monkeypatch.setattr(analysis, "detect_faces", lambda rgb: seen.append(rgb.shape) or detect(rgb))
    faces.analyse(Image.open(io.BytesIO(_portrait_at(1024))).convert("RGB"))
    assert seen == [(512, 512, 3)]
