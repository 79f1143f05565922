"""Model-based portrait analysis with the models shipped inside the mediapipe wheel (legacy ``mp.solutions``).

- face boxes: BlazeFace full-range detector (finds faces from ~30 px wide, and several faces side by side);
- the main face's 478 landmarks: face mesh with iris refinement, run on a crop around the main face box;
- a person mask: selfie segmentation (general model), float32 in [0, 1] at the image size.

Detection only: no face embedding or identity is computed, and nothing is kept after the call returns.

Each model is created once per process on first use and reused; a lock per model serialises calls (a mediapipe
graph is not re-entrant). mediapipe is not fork-safe: once a process has built a graph, a child forked from it
aborts (malloc corruption) when it builds or uses one. Here such a child gets ``ModelsUnavailableAfterFork``
instead; so load models only in the process that runs the jobs (RQ's forking worker never runs jobs in its parent;
a non-forking worker loads them once and keeps them).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logging: warnings and errors only

import mediapipe as mp

# Landmark indices of the face mesh used by the renderers.
LM_CHIN = 152
LM_FOREHEAD = 10
LM_NOSE_TIP = 1
LM_RIGHT_EYE_OUTER, LM_RIGHT_EYE_INNER = 33, 133  # the subject's right eye (image left)
LM_LEFT_EYE_OUTER, LM_LEFT_EYE_INNER = 263, 362
LM_RIGHT_IRIS, LM_LEFT_IRIS = 468, 473

SHARPNESS_SIZE = 128  # the face box is resampled to this square before the Laplacian: resolution-independent


class ModelsUnavailableAfterFork(RuntimeError):
    """mediapipe cannot build graphs in a child forked from a process that already built one (it aborts in malloc):
    load the models only in the process that runs the jobs."""


_state = {"graphs_built": False, "forked_after_build": False}


def _child_after_fork() -> None:
    if _state["graphs_built"]:
        _state["forked_after_build"] = True


os.register_at_fork(after_in_child=_child_after_fork)


class _LazyModel:
    """One mediapipe solution per process, created on first use; calls are serialised."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._model: Any = None
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # The parent's graph lost its threads in the child. It is kept (never closed nor freed: that would touch
        # the dead threads' state) and unusable; ``run`` refuses with a clear error instead of aborting.
        self._lock = threading.Lock()

    def run(self, rgb: np.ndarray, extract: Callable[[Any], Any]) -> Any:
        with self._lock:
            if _state["forked_after_build"]:
                raise ModelsUnavailableAfterFork(
                    "mediapipe models were loaded in the parent before fork(); in this child they can be neither "
                    "used nor rebuilt. Do not load them in a process that forks job processes (RQ's forking worker "
                    "does not, as long as nothing runs a generation in the parent)."
                )
            if self._model is None:
                _state["graphs_built"] = True
                self._model = self._factory()
            # mediapipe returns views into its own packets: extract/copy while we still hold the lock
            return extract(self._model.process(rgb))


_face_detector = _LazyModel(
    lambda: mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
)
_face_mesh = _LazyModel(
    lambda: mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3
    )
)
_segmenter = _LazyModel(lambda: mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0))


@dataclass(frozen=True)
class FaceBox:
    """A detected face in pixels. ``keypoints``: right eye, left eye, nose tip, mouth, right ear, left ear
    (the subject's right/left, i.e. image left/right for a frontal face)."""

    x: float
    y: float
    w: float
    h: float
    score: float
    keypoints: tuple[tuple[float, float], ...]

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def area(self) -> float:
        return self.w * self.h


@dataclass(frozen=True, eq=False)
class PortraitAnalysis:
    width: int
    height: int
    faces: tuple[FaceBox, ...]  # largest first
    landmarks: np.ndarray | None  # (478, 2) float32 pixel coordinates of the main face, None if the mesh failed
    person_mask: np.ndarray  # (height, width) float32 in [0, 1]
    face_fraction: float  # main face box width / the image's short side (0 without a face)
    face_px: float  # main face box width in pixels
    sharpness: float  # variance of the Laplacian of the main face box: 128x128 grey, contrast-normalised
    brightness: float  # mean luma (BT.601, 0-255) over the main face box

    @property
    def face_count(self) -> int:
        return len(self.faces)

    @property
    def main_face(self) -> FaceBox | None:
        return self.faces[0] if self.faces else None

    def eye_centers(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(image-left eye, image-right eye) centres: iris landmarks when present, else the detector's keypoints."""
        if self.landmarks is not None:
            return self.landmarks[LM_RIGHT_IRIS].copy(), self.landmarks[LM_LEFT_IRIS].copy()
        face = self.main_face
        if face is None:
            return None
        return np.array(face.keypoints[0], np.float32), np.array(face.keypoints[1], np.float32)


@dataclass(frozen=True)
class QualityThresholds:
    """Accept/reject limits for an uploaded portrait. Defaults calibrated on the sample portrait and derived images
    (see README.md): the sample measures face 0.20 of the short side / 104 px, sharpness 158, brightness 152."""

    min_face_fraction: float = 0.12  # main face width / short side
    min_face_px: float = 64.0  # main face width in pixels
    min_sharpness: float = 12.0
    min_brightness: float = 60.0
    secondary_face_ratio: float = 0.5  # another face at least this wide (relative to the main face) counts


QUALITY_REASONS = ("no_face", "multiple_faces", "face_too_small", "too_blurry", "too_dark")


def _to_rgb_u8(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("expected an HxWx3 uint8 RGB image")
    return np.ascontiguousarray(rgb)


def detect_faces(rgb: np.ndarray) -> tuple[FaceBox, ...]:
    rgb = _to_rgb_u8(rgb)
    h, w = rgb.shape[:2]

    def extract(result: Any) -> tuple[FaceBox, ...]:
        faces = []
        for det in result.detections or ():
            box = det.location_data.relative_bounding_box
            x0, y0 = max(box.xmin, 0.0) * w, max(box.ymin, 0.0) * h
            x1, y1 = min(box.xmin + box.width, 1.0) * w, min(box.ymin + box.height, 1.0) * h
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            kps = tuple((kp.x * w, kp.y * h) for kp in det.location_data.relative_keypoints)
            faces.append(FaceBox(x0, y0, x1 - x0, y1 - y0, float(det.score[0]), kps))
        return tuple(sorted(faces, key=lambda f: (-f.area, f.x, f.y)))

    return _face_detector.run(rgb, extract)


def face_landmarks(rgb: np.ndarray, face: FaceBox) -> np.ndarray | None:
    """478 landmarks of ``face``: the mesh runs on a square crop of 3x the face box, scaled to >= 256 px."""
    rgb = _to_rgb_u8(rgb)
    h, w = rgb.shape[:2]
    cx, cy = face.center
    half = 1.5 * max(face.w, face.h)
    x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
    x1, y1 = int(min(cx + half, w)), int(min(cy + half, h))
    crop = rgb[y0:y1, x0:x1]
    scale = max(1.0, 256.0 / max(crop.shape[:2]))
    if scale > 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    ch, cw = crop.shape[:2]

    def extract(result: Any) -> np.ndarray | None:
        if not result.multi_face_landmarks:
            return None
        pts = np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark], np.float32)
        return pts * np.array([cw, ch], np.float32) / scale + np.array([x0, y0], np.float32)

    return _face_mesh.run(np.ascontiguousarray(crop), extract)


def person_mask(rgb: np.ndarray) -> np.ndarray:
    rgb = _to_rgb_u8(rgb)
    mask = _segmenter.run(rgb, lambda r: np.array(r.segmentation_mask, dtype=np.float32, copy=True))
    return np.clip(mask, 0.0, 1.0)


def _face_region(rgb: np.ndarray, face: FaceBox) -> np.ndarray:
    x0, y0 = round(face.x), round(face.y)
    return rgb[y0 : round(face.y + face.h), x0 : round(face.x + face.w)]


def face_sharpness(rgb: np.ndarray, face: FaceBox) -> float:
    return region_sharpness(_face_region(rgb, face))


def region_sharpness(region: np.ndarray) -> float:
    """``face_sharpness`` of a face box already cut out (HxWx3 uint8 RGB)."""
    grey = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY)
    interp = cv2.INTER_AREA if min(grey.shape) > SHARPNESS_SIZE else cv2.INTER_LINEAR
    grey = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=interp).astype(np.float64)
    # contrast-normalised (grey levels rescaled to a standard deviation of 50) so that a dark but sharp photo is
    # reported as dark, not as blurry; a flat region keeps its (tiny) raw value
    std = grey.std()
    if std > 1.0:
        grey *= 50.0 / std
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def face_brightness(rgb: np.ndarray, face: FaceBox) -> float:
    return region_brightness(_face_region(rgb, face))


def region_brightness(region: np.ndarray) -> float:
    """``face_brightness`` of a face box already cut out (HxWx3 uint8 RGB)."""
    return float(cv2.cvtColor(region, cv2.COLOR_RGB2GRAY).mean())


def scale_faces(faces: tuple[FaceBox, ...], sx: float, sy: float) -> tuple[FaceBox, ...]:
    """The boxes of faces found in a resized copy, in the pixels of the image it was resized from."""
    return tuple(FaceBox(f.x * sx, f.y * sy, f.w * sx, f.h * sy, f.score,
                         tuple((x * sx, y * sy) for x, y in f.keypoints)) for f in faces)


def analyse_portrait(rgb: np.ndarray, *, with_landmarks: bool = True, with_mask: bool = True) -> PortraitAnalysis:
    """Analyse an HxWx3 uint8 RGB image. ``with_landmarks`` / ``with_mask`` may be turned off when only the quality
    measures are needed (the mask is then all zeros)."""
    rgb = _to_rgb_u8(rgb)
    h, w = rgb.shape[:2]
    faces = detect_faces(rgb)
    main = faces[0] if faces else None
    landmarks = face_landmarks(rgb, main) if (main is not None and with_landmarks) else None
    mask = person_mask(rgb) if with_mask else np.zeros((h, w), np.float32)
    return PortraitAnalysis(
        width=w,
        height=h,
        faces=faces,
        landmarks=landmarks,
        person_mask=mask,
        face_fraction=(main.w / min(w, h)) if main else 0.0,
        face_px=main.w if main else 0.0,
        sharpness=face_sharpness(rgb, main) if main else 0.0,
        brightness=face_brightness(rgb, main) if main else 0.0,
    )


def check_quality(analysis: PortraitAnalysis, thresholds: QualityThresholds | None = None) -> list[str]:
    """Reason codes (in ``QUALITY_REASONS`` order) why the portrait should be rejected; empty when it is fine."""
    t = thresholds or QualityThresholds()
    main = analysis.main_face
    if main is None:
        return ["no_face"]
    reasons = []
    if sum(1 for f in analysis.faces if f.w >= t.secondary_face_ratio * main.w) > 1:
        reasons.append("multiple_faces")
    if analysis.face_fraction < t.min_face_fraction or analysis.face_px < t.min_face_px:
        reasons.append("face_too_small")
    if analysis.sharpness < t.min_sharpness:
        reasons.append("too_blurry")
    if analysis.brightness < t.min_brightness:
        reasons.append("too_dark")
    return reasons
