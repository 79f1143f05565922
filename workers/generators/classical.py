"""The CPU ("classical") backend: mediapipe analysis (face box, landmarks, person mask) drives OpenCV rendering.

- ``photo``: the portrait at the requested size, restyled by one of the renderers in ``filters.py``.
- ``id_photo``: eyes levelled, cropped so the head (crown to chin) fills the spec's fraction of the height, face
  centred, background replaced with a flat colour, exact pixel size.
- ``avatar``: what "avatar" means here, honestly: of the 3-10 uploaded portraits the best one (no rejection reason,
  sharp, large, frontal face) is aligned into a square head-and-shoulders crop on a clean backdrop and stylised.
  The result is a reusable image of the person (a profile picture, or a source for other styles); nothing about the
  person's likeness is learned, and no embedding is computed or kept. The GPU backend will condition on an identity.
- ``video``: a slow Ken-Burns zoom towards the face that cross-fades from the photo to a styled version, encoded
  as H.264 MP4 through pipes (see ``video.py``), every frame carrying the visible "AI生成" label
  (``aigc_label.py``).

Everything is deterministic: the same request gives byte-identical outputs (jobs may be retried).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from . import analysis as an
from .aigc_label import stamp_array
from .base import (
    GeneratedImage,
    GeneratedVideo,
    GenerationRequest,
    InvalidRequest,
    NoFaceFound,
    ProgressFn,
    Result,
    UnknownStyle,
)
from .filters import RENDERERS, Renderer
from .imaging import (
    blend,
    decode_image,
    decontaminate,
    encode_image,
    fill_holes,
    fit_long_side,
    refine_mask,
    resize,
    to_u8,
)
from .styles import ID_BACKGROUNDS, STYLES
from .video import MP4_LAYOUTS, encode_h264

DEFAULT_IMAGE_LONG_SIDE = 1024
MAX_VIDEO_LONG_SIDE = 1920
ANALYSIS_LONG_SIDE = 1536  # ID photos analyse (and crop from) a copy at most this large
AVATAR_SOURCE_LONG_SIDE = 1024  # each avatar source is analysed at most this large


class _Progress:
    """Clamps to [0, 1] and never goes backwards."""

    def __init__(self, callback: ProgressFn | None) -> None:
        self._callback = callback
        self._last = 0.0

    def __call__(self, fraction: float) -> None:
        fraction = min(1.0, max(self._last, fraction))
        self._last = fraction
        if self._callback is not None:
            self._callback(fraction)


def _prepare(rgb: np.ndarray, source_index: int = 0) -> tuple[an.PortraitAnalysis, np.ndarray]:
    """Analysis plus a refined, hole-free person mask; ``NoFaceFound`` without a face."""
    result = an.analyse_portrait(rgb)
    if result.main_face is None:
        raise NoFaceFound(source_index=source_index)
    return result, fill_holes(refine_mask(rgb, result.person_mask))


def _photo_renderer(style_id: str) -> tuple[Renderer, Mapping[str, Any]]:
    """The renderer and params of a catalogue photo style (avatar and video styles name one as ``render_style``)."""
    style = STYLES.get(style_id)
    renderer = RENDERERS.get(str(style.params.get("renderer"))) if style is not None else None
    if style is None or style.kind != "photo" or renderer is None:
        raise UnknownStyle(f"render_style must be a photo style of the classical backend, not {style_id!r}")
    return renderer, style.params


def _affine_about(center: tuple[float, float], angle_deg: float, scale: float, dst: tuple[float, float]) -> np.ndarray:
    """2x3 matrix: rotate by ``angle_deg`` and scale about ``center``, which lands on ``dst``."""
    m = cv2.getRotationMatrix2D(center, angle_deg, scale)
    m[:, 2] += np.array(dst) - np.array(center)
    return m


def _warp(img: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """warpAffine that downsamples cleanly: shrink the source first when the matrix scales below 0.6."""
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    if scale < 0.6:
        f = scale / 0.8
        img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        m = m.copy()
        m[:, :2] /= f
    return cv2.warpAffine(img, m, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def _eyes_angle(result: an.PortraitAnalysis) -> tuple[np.ndarray, float]:
    eyes = result.eye_centers()
    assert eyes is not None
    left, right = eyes
    return (left + right) / 2, math.degrees(math.atan2(float(right[1] - left[1]), float(right[0] - left[0])))


def _head_geometry(result: an.PortraitAnalysis, mask: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """(crown y, chin y, face centre x, eye midpoint) in the image, measured along the eye-levelled axis.

    The chin and forehead come from the face mesh; the crown (top of the hair) is the top of the person mask above
    the face, kept within a plausible band above the forehead (the mesh stops at the hairline)."""
    face = result.main_face
    assert face is not None
    mid, angle = _eyes_angle(result)
    rot = cv2.getRotationMatrix2D((float(mid[0]), float(mid[1])), angle, 1.0)  # levels the eyes
    if result.landmarks is not None:
        pts = result.landmarks @ rot[:, :2].T + rot[:, 2]
        chin, forehead = float(pts[an.LM_CHIN, 1]), float(pts[an.LM_FOREHEAD, 1])
        center_x = float((pts[:, 0].min() + pts[:, 0].max()) / 2)
    else:  # detector box only
        chin, forehead, center_x = face.y + face.h * 1.05, face.y, face.center[0]
    face_h = chin - forehead
    levelled = cv2.warpAffine(mask, rot, (mask.shape[1], mask.shape[0]), flags=cv2.INTER_LINEAR)
    half = max(2, round(face.w * 0.25))
    cols = levelled[:, max(0, round(center_x) - half) : round(center_x) + half]
    rows = np.nonzero((cols > 0.5).mean(axis=1) > 0.5)[0]
    low, high = forehead - 0.6 * face_h, forehead - 0.1 * face_h
    crown = float(np.clip(rows[0], low, high)) if len(rows) else forehead - 0.3 * face_h
    return crown, chin, center_x, mid


class ClassicalGenerator:
    name = "classical"

    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None) -> list[Result]:
        report = _Progress(progress)
        style = request.style
        renderer = str(style.params.get("renderer", style.id))
        report(0.0)
        if style.kind == "photo":
            results: list[Result] = [self._photo(request, renderer, report)]
        elif style.kind == "id_photo":
            results = [self._id_photo(request, report)]
        elif style.kind == "avatar":
            results = [self._avatar(request, report)]
        else:
            results = [self._video(request, report)]
        report(1.0)
        return results

    # ---- helpers
    def _image(self, request: GenerationRequest, rgb: np.ndarray, meta: Mapping[str, Any] | None = None):
        data, mime = encode_image(rgb, request.image_format, request.jpeg_quality)
        return GeneratedImage(data=data, mime=mime, width=rgb.shape[1], height=rgb.shape[0], meta=dict(meta or {}))

    @staticmethod
    def _decode(request: GenerationRequest, index: int = 0, long_side: int | None = None) -> np.ndarray:
        rgb = decode_image(request.sources[index])
        if long_side is not None:
            rgb = resize(rgb, fit_long_side(rgb.shape[1], rgb.shape[0], long_side))
        return rgb

    # ---- kinds
    def _photo(self, request: GenerationRequest, renderer: str, report: _Progress) -> GeneratedImage:
        if renderer not in RENDERERS:
            raise UnknownStyle(f"the classical backend has no renderer {renderer!r}")
        rgb = self._decode(request, 0, request.long_side or DEFAULT_IMAGE_LONG_SIDE)
        report(0.1)
        result, mask = _prepare(rgb)
        report(0.3)
        out = RENDERERS[renderer](rgb, mask, result.main_face, request.style.params)
        report(0.9)
        return self._image(request, out)

    def _id_photo(self, request: GenerationRequest, report: _Progress) -> GeneratedImage:
        params = request.style.params
        out_w, out_h = (int(v) for v in params["size"])
        background = params.get("background", "white")
        if background not in ID_BACKGROUNDS:
            raise InvalidRequest(f"background must be one of {', '.join(ID_BACKGROUNDS)}")
        src = self._decode(request)
        rgb = resize(src, fit_long_side(src.shape[1], src.shape[0], min(ANALYSIS_LONG_SIDE, max(src.shape[:2]))))
        report(0.1)
        result, mask = _prepare(rgb)
        report(0.4)
        crown, chin, center_x, mid = _head_geometry(result, mask)
        _, angle = _eyes_angle(result)
        head_px = float(params["head_fraction"]) * out_h
        scale = head_px / max(chin - crown, 1.0)
        # where the eye midpoint lands: horizontally so the face is centred, vertically below the crown's place
        # (the levelling rotation is about the eye midpoint, so ``mid`` is the same point in both frames)
        dst_x = out_w / 2 + (float(mid[0]) - center_x) * scale
        dst_y = float(params["top_fraction"]) * out_h + (float(mid[1]) - crown) * scale
        m = _affine_about((float(mid[0]), float(mid[1])), angle, scale, (dst_x, dst_y))
        photo = _warp(rgb, m, (out_w, out_h))
        alpha = np.clip(_warp(mask, m, (out_w, out_h)), 0, 1)
        alpha = np.clip((alpha - 0.1) / 0.8, 0, 1)  # a slightly tighter edge
        photo = decontaminate(photo, alpha, sigma=out_h / 150)  # no halo of the old backdrop around the hair
        report(0.8)
        bg = np.array(ID_BACKGROUNDS[background], np.float32)
        out = to_u8(blend(bg, photo, alpha))
        meta = {"background": background, "head_fraction": round((chin - crown) * scale / out_h, 3)}
        return self._image(request, out, meta)

    def _avatar(self, request: GenerationRequest, report: _Progress) -> GeneratedImage:
        params = request.style.params
        size = request.long_side or DEFAULT_IMAGE_LONG_SIDE
        render, render_params = _photo_renderer(str(params.get("render_style", "anime")))
        best: tuple[float, int, np.ndarray, an.PortraitAnalysis] | None = None  # only the best source is kept
        scores: list[float | None] = []
        n = len(request.sources)
        for i in range(n):
            candidate = self._decode(request, i, AVATAR_SOURCE_LONG_SIDE)
            analysed = an.analyse_portrait(candidate)
            if analysed.main_face is None:
                scores.append(None)
            else:
                score = _avatar_score(analysed)
                scores.append(round(score, 3))
                if best is None or score > best[0]:  # ties: the earlier photo
                    best = (score, i, candidate, analysed)
            report(0.05 + 0.45 * (i + 1) / n)
        if best is None:
            raise NoFaceFound("no face was found in any of the photos")
        _, index, rgb, result = best
        raw_mask = result.person_mask
        mask = fill_holes(refine_mask(rgb, raw_mask))
        # square head-and-shoulders crop: eyes level, face width 34% of the side, eyes at 42% from the top. It is
        # rendered at most 2x the source's own resolution (stylising blurry upscaled pixels looks worse than
        # upscaling the stylised result), then resized to the requested size.
        mid, angle = _eyes_angle(result)
        face_w = _face_width(result)
        work = int(np.clip(2.0 * face_w / 0.34, 384, size))
        scale = 0.34 * work / face_w
        m = _affine_about((float(mid[0]), float(mid[1])), angle, scale, (work / 2, 0.42 * work))
        photo = _warp(rgb, m, (work, work))
        alpha = np.clip(_warp(mask, m, (work, work)), 0, 1)
        yy, xx = np.mgrid[0:work, 0:work].astype(np.float32) / work
        glow = np.clip(1.0 - np.hypot(xx - 0.5, yy - 0.4) * 1.2, 0, 1)[..., None]
        backdrop = blend(np.array([196.0, 214.0, 240.0], np.float32), np.array([250.0, 246.0, 240.0], np.float32), glow)
        photo = to_u8(blend(backdrop, decontaminate(photo, alpha, sigma=work / 300), alpha))
        report(0.6)
        src_face = result.main_face
        assert src_face is not None
        fcx, fcy = m[:, :2] @ np.array(src_face.center) + m[:, 2]
        fw, fh = src_face.w * scale, src_face.h * scale
        face = an.FaceBox(float(fcx - fw / 2), float(fcy - fh / 2), fw, fh, src_face.score, ())
        out = resize(render(photo, alpha, face, render_params), (size, size))
        report(0.9)
        return self._image(request, out, {"source_index": index, "scores": scores})

    def _video(self, request: GenerationRequest, report: _Progress) -> GeneratedVideo:
        params = request.style.params
        layout = str(params.get("layout", "fragmented"))
        if layout not in MP4_LAYOUTS:
            raise InvalidRequest(f"layout must be one of {', '.join(MP4_LAYOUTS)}")
        if request.long_side is not None and request.long_side > MAX_VIDEO_LONG_SIDE:
            raise InvalidRequest(f"a video's long side is at most {MAX_VIDEO_LONG_SIDE} px")
        render, render_params = _photo_renderer(str(params.get("render_style", "watercolor")))
        fps = float(params.get("fps", 24))
        seconds = float(params.get("seconds", 2.5))
        zoom = float(params.get("zoom", 1.18))
        if not (1 <= fps <= 60 and 0.5 <= seconds <= 10 and 1.0 <= zoom <= 2.0):
            raise InvalidRequest("video params: fps 1-60, seconds 0.5-10, zoom 1.0-2.0")
        frame_count = round(seconds * fps)
        src = self._decode(request)
        w, h = fit_long_side(
            src.shape[1], src.shape[0], request.long_side or int(params.get("long_side", 720)), even=True
        )
        # render at the final zoom's resolution so the last frames stay sharp
        big_w, big_h = round(w * zoom), round(h * zoom)
        photo = resize(src, (big_w, big_h))
        report(0.05)
        result, mask = _prepare(photo)
        report(0.2)
        styled = render(photo, mask, result.main_face, render_params)
        report(0.5)
        face = result.main_face
        assert face is not None
        fx, fy = face.center

        def frames():
            for i in range(frame_count):
                t = i / (frame_count - 1)
                ease = t * t * (3 - 2 * t)
                z = 1.0 + (zoom - 1.0) * ease  # output pixels per source pixel, relative to the full view
                s = z * w / big_w
                # the view's centre drifts from the image centre towards the face, staying inside the image
                cx = big_w / 2 + (fx - big_w / 2) * ease
                cy = big_h / 2 + (fy - big_h / 2) * ease
                half_w, half_h = w / (2 * s), h / (2 * s)
                cx = min(max(cx, half_w), big_w - half_w)
                cy = min(max(cy, half_h), big_h - half_h)
                m = np.array([[s, 0, w / 2 - s * cx], [0, s, h / 2 - s * cy]], np.float64)
                fade = float(np.clip((t - 0.2) / 0.55, 0, 1))
                fade = fade * fade * (3 - 2 * fade)
                base = (
                    photo if fade <= 0 else (styled if fade >= 1 else cv2.addWeighted(photo, 1 - fade, styled, fade, 0))
                )
                # the explicit AI label on every frame (GB 45438-2025: at least the opening 2 s)
                yield stamp_array(cv2.warpAffine(base, m, (w, h), flags=cv2.INTER_LINEAR))

        data = encode_h264(
            frames(), w, h, fps, layout=layout, on_frame=lambda i: report(0.5 + 0.45 * (i + 1) / frame_count)
        )
        return GeneratedVideo(
            data=data, mime="video/mp4", width=w, height=h, frame_count=frame_count, fps=fps, meta={"layout": layout}
        )


def _face_width(result: an.PortraitAnalysis) -> float:
    if result.landmarks is not None:
        lm = result.landmarks
        return float(np.linalg.norm(lm[234] - lm[454]))  # cheek to cheek
    assert result.main_face is not None
    return result.main_face.w


def _avatar_score(result: an.PortraitAnalysis) -> float:
    """Higher is better: no quality problems first, then sharpness, face size and a frontal pose."""
    reasons = an.check_quality(result)
    frontal = 0.5
    if result.landmarks is not None:
        lm = result.landmarks
        d_right = float(np.linalg.norm(lm[an.LM_NOSE_TIP] - lm[an.LM_RIGHT_EYE_OUTER]))
        d_left = float(np.linalg.norm(lm[an.LM_NOSE_TIP] - lm[an.LM_LEFT_EYE_OUTER]))
        frontal = 1.0 - abs(d_left - d_right) / max(d_left + d_right, 1e-6)
    return -10.0 * len(reasons) + math.log1p(result.sharpness) + math.log1p(result.face_px) + 4.0 * frontal
