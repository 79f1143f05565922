"""Model-based portrait analysis and the upload quality check, on the sample portrait and images derived from it."""

from __future__ import annotations

import dataclasses
import os
import threading

import pytest

from .support import require_models

require_models()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from workers.generators import analysis as an  # noqa: E402
from workers.generators.analysis import QUALITY_REASONS, QualityThresholds, analyse_portrait, check_quality  # noqa: E402


def _shrunk(rgb: np.ndarray, factor: float) -> np.ndarray:
    """The portrait scaled down and centred on a grey canvas of the original size (a far-away face)."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(rgb, 128)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    return canvas


@pytest.fixture(scope="module")
def derived(portrait_rgb):
    rgb = portrait_rgb
    gradient = np.tile(np.linspace(0, 255, 512, dtype=np.float32)[None, :, None], (512, 1, 3)).astype(np.uint8)
    return {
        "original": rgb,
        "blurred": cv2.GaussianBlur(rgb, (0, 0), 6),
        "darkened": (rgb.astype(np.float32) * 0.15).astype(np.uint8),
        "small_face": _shrunk(rgb, 0.5),
        "two_faces": np.hstack([rgb, rgb]),
        "gradient": gradient,
        "noise": np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8),
    }


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        ("original", []),
        ("blurred", ["too_blurry"]),
        ("darkened", ["too_dark"]),
        ("small_face", ["face_too_small"]),
        ("two_faces", ["multiple_faces"]),
        ("gradient", ["no_face"]),
        ("noise", ["no_face"]),
    ],
)
def test_quality_reasons_on_derived_images(derived, name, reasons):
    assert check_quality(analyse_portrait(derived[name])) == reasons


def test_reason_codes_are_stable():
    assert QUALITY_REASONS == ("no_face", "multiple_faces", "face_too_small", "too_blurry", "too_dark")


def test_sample_portrait_measurements(portrait_rgb):
    a = analyse_portrait(portrait_rgb)
    assert (a.width, a.height) == (512, 512)
    assert a.face_count == 1
    face = a.main_face
    assert face is not None and face.score > 0.8
    assert 150 < face.center[0] < 300 and 80 < face.center[1] < 230  # the face is upper centre-left
    assert len(face.keypoints) == 6
    assert a.landmarks is not None and a.landmarks.shape == (478, 2)
    assert face.x - 10 < a.landmarks[an.LM_NOSE_TIP][0] < face.x + face.w + 10
    assert a.person_mask.shape == (512, 512) and a.person_mask.dtype == np.float32
    assert a.person_mask[150, 225] > 0.9  # the face is the person
    assert a.person_mask[20, 480] < 0.1  # the top right backdrop is not
    assert 0.15 < a.face_fraction < 0.25
    # margins against the default thresholds (see README.md for the calibration)
    t = QualityThresholds()
    assert a.sharpness > 5 * t.min_sharpness
    assert a.brightness > 2 * t.min_brightness


def test_thresholds_are_configurable(portrait_rgb):
    a = analyse_portrait(portrait_rgb)
    strict = QualityThresholds(min_face_fraction=0.5, min_sharpness=1e6, min_brightness=250)
    assert check_quality(a, strict) == ["face_too_small", "too_blurry", "too_dark"]


def test_a_much_smaller_second_face_is_not_multiple_faces(portrait_rgb):
    """A far smaller second face (a passer-by, a poster) does not reject the photo; a comparable one does."""
    a = analyse_portrait(portrait_rgb)
    main = a.main_face
    assert main is not None

    def with_second(ratio: float) -> an.PortraitAnalysis:
        other = dataclasses.replace(main, x=400.0, w=main.w * ratio, h=main.h * ratio)
        return dataclasses.replace(a, faces=(main, other))

    assert check_quality(with_second(0.3)) == []
    assert check_quality(with_second(0.8)) == ["multiple_faces"]


def test_detection_only_no_identity_data(portrait_rgb):
    a = analyse_portrait(portrait_rgb)
    fields = {f.name for f in dataclasses.fields(a)}
    assert not any("embed" in f or "identity" in f or "descriptor" in f for f in fields)


def test_models_load_once_and_are_thread_safe(portrait_rgb):
    analyse_portrait(portrait_rgb)
    models = (an._face_detector._model, an._face_mesh._model, an._segmenter._model)
    assert all(m is not None for m in models)
    expected = analyse_portrait(portrait_rgb)
    results: list = []
    errors: list = []

    def work():
        try:
            results.append(analyse_portrait(portrait_rgb))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert (an._face_detector._model, an._face_mesh._model, an._segmenter._model) == models
    for r in results:
        assert r.faces == expected.faces
        assert np.array_equal(r.landmarks, expected.landmarks)
        assert np.array_equal(r.person_mask, expected.person_mask)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_a_clear_error_instead_of_an_abort(portrait_rgb):
    """mediapipe aborts in a child forked after it built a graph; the child must get a clear error instead."""
    analyse_portrait(portrait_rgb)  # graphs built in this process
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 3
        try:
            analyse_portrait(portrait_rgb)
        except an.ModelsUnavailableAfterFork:
            code = 0
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert analyse_portrait(portrait_rgb).face_count == 1  # the parent is unaffected


def test_rejects_non_rgb_input():
    with pytest.raises(ValueError, match="RGB"):
        analyse_portrait(np.zeros((64, 64), np.uint8))
