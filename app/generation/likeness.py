"""Likeness check: does a generated portrait keep the face geometry of the photo it was made from?

Geometric only, by policy (detection, never recognition): the face mesh shipped with mediapipe
(``workers.generators.analysis``, the same models that drive generation) places 478 landmarks on the source
photo's face and on each result's face(s); both landmark sets are normalised — origin at the midpoint of the eyes,
eye line rotated level, lengths in units of the inter-ocular distance (IOD, eye-corner midpoints) — and compared on a
stable subset (eye contours, nose, lips). No face embedding, no identity model: the question answered is "are the
proportions of *this* photo's face still there", not "who is this"; nothing is stored but the score.

- ``distance`` is the root mean square displacement of the subset, in IOD units; the score is
  ``1 / (1 + (distance / SCORE_SCALE_IOD) ** 2)``: 1 for identical geometry, 0.5 at 5% of the IOD, 0.2 at 10%.
- The jaw contour is measured by the mesh but left out of the score: stylised results blend the jaw into the
  backdrop, and the mesh's jaw moves by up to 0.2 IOD on a pop-art panel of the *same* photo — more than the
  difference between two people's whole faces (~0.07 IOD).
- Faces are analysed at one resolution (downsampled with area averaging so the face box is ``FACE_PX`` wide):
  halftone dots, ink lines, grain and brush strokes otherwise pull the landmarks.
- A result is measured twice, in colour and on its equalised luminance (a palette-mapped style such as cyberpunk
  can hide the face from the detector or pull the mesh in colour); small faces are also looked for in half-size
  tiles (pop art's 2x2 grid). The best-matching face counts; a result with no face found at all scores 0.
- What is checked: ``photo`` and ``avatar`` results (an avatar against the source it says it used,
  ``meta["source_index"]``, else its best match among the sources). Skipped (score ``None``, not flagged): ID photos
  (a crop of the same photo, nothing generated), videos (the classical video starts on the untouched photo and
  cross-fades to a style, so its first frame would prove nothing, and decoding later frames costs more than the
  check is worth until a generative video backend exists), and sources the mesh cannot measure.

Below ``LIKENESS_THRESHOLD`` the generator is asked once more with a changed seed when it supports one (a
generator's own ``likeness_retry(request, attempt)`` hook, or the diffusion backend's ``seed``/``strength``
params); the better of the two results is kept. The classical backend is deterministic — a retry would return the
same bytes — so its result is kept and flagged at once. A result still below the threshold is kept, flagged.

Calibration (classical backend; tests/generation/test_likeness.py keeps it true). Scores against the sample
portrait (tests/data, JPEG as uploaded) of results made from:

    source            anime  oil   pencil water vintage cyber pop   avatar
    the sample        0.72   0.87  0.94   0.83  0.90    0.80  0.62  0.90
    it, squashed 85%  0.23   0.16  0.25   0.26  0.20    0.31  0.29  0.25
    another person    0.28   0.24  0.30   0.27  0.28    0.25  0.35  0.28   (Grace Hopper, matplotlib's sample)

Also measured: the sample at 2x resolution and a crop of it, and Grace Hopper's portrait as the source, each
against its own styles: >= 0.69; against the other person: <= 0.34.
The default threshold, 0.5 (a mean landmark displacement of 5% of the IOD), sits between. A squash of only 10% is
within the noise of the heaviest styles (0.28-0.70): the check catches a changed face, not a subtle retouch.
Cost: ~0.1 s per result on one core (the source and up to 8 faces of the result, each through the mesh).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5  # calibrated: see the module docstring
SCORE_SCALE_IOD = 0.05  # the distance (in inter-ocular distances) that scores 0.5
FACE_PX = 64  # faces are compared at this face-box width (downsampled with area averaging; never upsampled)
MAX_FACES = 4  # faces measured in one result (pop art has four)
SMALL_FACE_FRACTION = 0.15  # a main face narrower than this share of the short side: look in tiles too
SECONDARY_FACE_RATIO = 0.5  # other faces count when at least this wide relative to the largest
CHECKED_KINDS = frozenset({"photo", "avatar"})
ANALYSIS_LONG_SIDE = 1536  # images are measured at most this large (faces end up FACE_PX wide anyway)

# Face-mesh landmark indices (the canonical 468-point topology; 468-477 are the irises).
EYE_CORNERS = ((33, 133), (263, 362))  # (outer, inner) of the subject's right eye, then left eye
JAW = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454)
NOSE = (168, 6, 197, 195, 5, 4, 1, 2, 98, 327, 48, 278, 94, 19)
EYES = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7,
        263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
MOUTH = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146,
         13, 14, 78, 308)
SCORED = np.array(EYES + NOSE + MOUTH, dtype=np.intp)


@dataclass(frozen=True)
class Verdict:
    """The likeness of one result. ``score`` is ``None`` when not checked (see ``reason``)."""

    score: float | None
    flagged: bool
    reason: str  # checked | no_face_in_result | skipped_kind | source_unmeasurable | disabled | check_failed
    attempts: int = 1  # generations this result took (2 after a retry)


NOT_CHECKED = Verdict(None, False, "skipped_kind")


# ---- geometry -------------------------------------------------------------------------------------------


def normalise(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks moved to the eye midpoint, rotated so the eye line is level, scaled to unit inter-ocular distance."""
    pts = np.asarray(landmarks, np.float64)[:, :2]
    (r_out, r_in), (l_out, l_in) = EYE_CORNERS
    right, left = (pts[r_out] + pts[r_in]) / 2, (pts[l_out] + pts[l_in]) / 2
    delta = left - right
    iod = float(np.hypot(*delta))
    if iod < 1e-6:
        raise ValueError("degenerate landmarks: the eyes coincide")
    angle = np.arctan2(delta[1], delta[0])
    c, s = np.cos(-angle), np.sin(-angle)
    rotation = np.array([[c, -s], [s, c]])
    return ((pts - (right + left) / 2) @ rotation.T) / iod


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """RMS displacement of the scored landmarks between two normalised shapes, in inter-ocular distances."""
    diff = a[SCORED] - b[SCORED]
    return float(np.sqrt((diff**2).sum(axis=1).mean()))


def score_of(dist: float) -> float:
    return 1.0 / (1.0 + (dist / SCORE_SCALE_IOD) ** 2)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Likeness score in [0, 1] of two normalised landmark sets."""
    return score_of(distance(a, b))


# ---- measuring images -----------------------------------------------------------------------------------


def _detect(rgb: np.ndarray) -> list:
    """Face boxes, largest first: the whole image, else half-size tiles (small faces, e.g. a 2x2 pop-art grid,
    fall below the full-range detector's reach once the whole image is shrunk to its input size)."""
    from workers.generators import analysis as an

    faces = list(an.detect_faces(rgb))
    h, w = rgb.shape[:2]
    if faces and faces[0].w >= SMALL_FACE_FRACTION * min(h, w):
        return faces
    found: list = list(faces)
    th, tw = h // 2, w // 2
    if min(th, tw) < 64:
        return found
    for y0 in (0, h // 4, h - th):
        for x0 in (0, w // 4, w - tw):
            for f in an.detect_faces(np.ascontiguousarray(rgb[y0 : y0 + th, x0 : x0 + tw])):
                box = an.FaceBox(f.x + x0, f.y + y0, f.w, f.h, f.score,
                                 tuple((x + x0, y + y0) for x, y in f.keypoints))
                if all(_overlap(box, other) < 0.3 for other in found):
                    found.append(box)
    return sorted(found, key=lambda f: (-f.area, f.x, f.y))


def _overlap(a, b) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / max(a.area + b.area - inter, 1e-6)


def _landmarks_at_face_px(rgb: np.ndarray, face) -> np.ndarray | None:
    """The face's landmarks, measured on a copy where the face box is ``FACE_PX`` wide (when it is larger)."""
    from workers.generators import analysis as an

    h, w = rgb.shape[:2]
    cx, cy = face.center
    half = 1.6 * max(face.w, face.h)
    x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
    x1, y1 = int(min(cx + half, w)), int(min(cy + half, h))
    crop = rgb[y0:y1, x0:x1]
    scale = min(1.0, FACE_PX / max(face.w, 1.0))
    if scale < 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    local = an.FaceBox((face.x - x0) * scale, (face.y - y0) * scale, face.w * scale, face.h * scale, face.score, ())
    return an.face_landmarks(np.ascontiguousarray(crop), local)


def _grey(rgb: np.ndarray) -> np.ndarray:
    """Luminance, histogram-equalised, as 3 channels: what is left of a face under any palette."""
    grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))


def face_shapes(rgb: np.ndarray, max_faces: int = MAX_FACES, *, with_grey: bool = False) -> list[np.ndarray]:
    """Normalised landmark sets of the image's faces (the largest, and others at least half as wide); with
    ``with_grey`` also those found on its equalised luminance (a palette-mapped style can hide a face from the
    detector and pull the mesh in colour)."""
    shapes = _face_shapes(rgb, max_faces)
    if with_grey:
        shapes += _face_shapes(_grey(rgb), max_faces)
    return shapes


def _face_shapes(rgb: np.ndarray, max_faces: int = MAX_FACES) -> list[np.ndarray]:
    faces = _detect(rgb)
    if not faces:
        return []
    main = faces[0]
    shapes = []
    for face in faces[:max_faces]:
        if face.w < SECONDARY_FACE_RATIO * main.w:
            continue
        landmarks = _landmarks_at_face_px(rgb, face)
        if landmarks is not None:
            try:
                shapes.append(normalise(landmarks))
            except ValueError:
                continue
    return shapes


def decode(data: bytes, long_side: int = ANALYSIS_LONG_SIDE) -> np.ndarray:
    """Encoded image -> RGB (EXIF orientation applied), at most ``long_side`` pixels long."""
    from workers.generators.imaging import decode_image, fit_long_side, resize

    rgb = decode_image(data)
    if max(rgb.shape[:2]) > long_side:
        rgb = resize(rgb, fit_long_side(rgb.shape[1], rgb.shape[0], long_side))
    return rgb


def compare(sources: Sequence[np.ndarray], result: np.ndarray) -> tuple[float | None, str]:
    """(score, reason): the best score of the result's faces against any of the sources' main faces."""
    references = [shapes[0] for shapes in (face_shapes(src, max_faces=1) for src in sources) if shapes]
    if not references:
        return None, "source_unmeasurable"
    candidates = face_shapes(result, with_grey=True)
    if not candidates:
        return 0.0, "no_face_in_result"
    return max(similarity(ref, cand) for ref in references for cand in candidates), "checked"


# ---- the job step ---------------------------------------------------------------------------------------


def retry_request(generator, request, attempt: int):
    """The request to try again with after a poor likeness, or ``None`` when the backend cannot vary its output.

    A backend may decide itself (``generator.likeness_retry(request, attempt)``); the diffusion backend's photo
    styles get another seed and a little less strength (closer to the photo). The classical backend is
    deterministic: ``None``."""
    hook = getattr(generator, "likeness_retry", None)
    if callable(hook):
        return hook(request, attempt)
    if getattr(generator, "name", "") != "diffusion" or request.style.kind != "photo":
        return None
    overrides = dict(request.style.params.get("diffusion") or {})
    digest = hashlib.sha256(b"miaohua-likeness-retry\0%d\0" % attempt + request.style.id.encode() + b"\0"
                            + hashlib.sha256(request.sources[0]).digest()).digest()
    overrides["seed"] = int.from_bytes(digest[:8], "big") >> 1
    try:
        from workers.generators.diffusion_styles import resolve_params

        strength = resolve_params(request.style, request.sources[0]).strength
        overrides["strength"] = round(max(0.25, strength - 0.1 * attempt), 3)
    except Exception:  # an older/newer diffusion module: the new seed alone still changes the picture
        log.debug("diffusion strength unavailable for the likeness retry", exc_info=True)
    return replace(request, style=request.style.with_params(diffusion=overrides))


class _Sources:
    """The request's sources, decoded on first use (an avatar is compared with the one source it used)."""

    def __init__(self, request) -> None:
        self.request = request
        self.decoded: dict[int, np.ndarray] = {}

    def _get(self, index: int) -> np.ndarray:
        if index not in self.decoded:
            self.decoded[index] = decode(self.request.sources[index])
        return self.decoded[index]

    def for_output(self, output) -> list[np.ndarray]:
        count = len(self.request.sources)
        index = output.meta.get("source_index") if self.request.style.kind == "avatar" else 0
        if isinstance(index, int) and 0 <= index < count:
            return [self._get(index)]
        return [self._get(i) for i in range(count)]


def review(generator, request, outputs: list, *, threshold: float = DEFAULT_THRESHOLD,
           keep_going: Callable[[], None] | None = None) -> tuple[list, list[Verdict]]:
    """Check each output's likeness; retry once where the backend can vary; returns (outputs, verdicts).

    ``keep_going`` is called before each (re)generation step so a cancelled job stops (it may raise)."""
    if request.style.kind not in CHECKED_KINDS:
        return outputs, [NOT_CHECKED for _ in outputs]
    from workers.generators.base import GenerationError

    sources = _Sources(request)
    outputs = list(outputs)
    verdicts: list[Verdict] = []
    for i, output in enumerate(outputs):
        if not output.mime.startswith("image/"):
            verdicts.append(NOT_CHECKED)
            continue
        score, reason = compare(sources.for_output(output), decode(output.data))
        attempts = 1
        if score is not None and score < threshold:
            retry = retry_request(generator, request, attempt=1)
            if retry is not None:
                if keep_going:
                    keep_going()
                attempts = 2
                try:
                    again = generator.generate(retry, lambda _f: keep_going() if keep_going else None)
                except GenerationError as exc:  # the first result stands (flagged)
                    log.info("likeness retry failed", extra={"style": request.style.id, "code": exc.code})
                    again = []
                if i < len(again) and again[i].mime == output.mime:
                    new_score, new_reason = compare(sources.for_output(again[i]), decode(again[i].data))
                    if new_score is not None and new_score > score:
                        outputs[i], score, reason = again[i], new_score, new_reason
        flagged = score is not None and score < threshold
        verdicts.append(Verdict(None if score is None else round(score, 4), flagged, reason, attempts))
        if flagged:
            log.info("generation result flagged for likeness",
                     extra={"style": request.style.id, "score": round(score or 0.0, 4), "reason": reason,
                            "attempts": attempts})
    return outputs, verdicts


def review_job(generator, request, outputs: list, config, *, keep_going: Callable[[], None] | None = None,
               propagate: tuple[type[BaseException], ...] = ()) -> tuple[list, list[Verdict]]:
    """``review`` as the job runs it: ``LIKENESS_CHECK_ENABLED`` / ``LIKENESS_THRESHOLD`` from ``config``, and
    best effort — a failure of the check itself (or of the retry) keeps the outputs unchecked; only the exceptions
    in ``propagate`` (cancellation, the job's time limit) go through."""
    if not config.get("LIKENESS_CHECK_ENABLED", True):
        return list(outputs), [Verdict(None, False, "disabled") for _ in outputs]
    threshold = float(config.get("LIKENESS_THRESHOLD", DEFAULT_THRESHOLD))
    try:
        return review(generator, request, outputs, threshold=threshold, keep_going=keep_going)
    except propagate:
        raise
    except Exception:
        log.exception("likeness check failed; results kept unchecked", extra={"style": request.style.id})
        return list(outputs), [Verdict(None, False, "check_failed") for _ in outputs]
