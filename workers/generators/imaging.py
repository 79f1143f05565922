"""Image plumbing shared by the classical renderers: decoding uploads, metadata-free encoding, resizing, masks."""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .base import InvalidImage

MAX_SOURCE_PIXELS = 50_000_000  # refuse larger uploads (decompression bombs)
MIN_SOURCE_SIDE = 64


def decode_image(data: bytes) -> np.ndarray:
    """Encoded JPEG/PNG/WebP bytes -> HxWx3 uint8 RGB, upright (EXIF orientation applied), alpha on white."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > MAX_SOURCE_PIXELS:
                    raise InvalidImage(f"image too large ({im.width}x{im.height})")
                im.load()
                im = ImageOps.exif_transpose(im)
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    im = im.convert("RGBA")
                    flat = Image.new("RGB", im.size, (255, 255, 255))
                    flat.paste(im, mask=im.getchannel("A"))
                    im = flat
                rgb = np.asarray(im.convert("RGB"))
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise InvalidImage(f"cannot decode image: {exc}") from exc
    if min(rgb.shape[:2]) < MIN_SOURCE_SIDE:
        raise InvalidImage(f"image too small ({rgb.shape[1]}x{rgb.shape[0]})")
    return np.ascontiguousarray(rgb)


def encode_image(rgb: np.ndarray, image_format: str = "png", jpeg_quality: int = 92) -> tuple[bytes, str]:
    """RGB -> (bytes, mime). OpenCV writes no metadata (no EXIF, no text chunks); output is deterministic."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if image_format == "jpeg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality), cv2.IMWRITE_JPEG_OPTIMIZE, 1])
        mime = "image/jpeg"
    else:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
        mime = "image/png"
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {image_format}")
    return buf.tobytes(), mime


def fit_long_side(width: int, height: int, long_side: int, *, even: bool = False) -> tuple[int, int]:
    scale = long_side / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    if even:
        w, h = max(2, w - w % 2), max(2, h - h % 2)
    return w, h


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (width, height): area averaging down, bicubic up."""
    if (img.shape[1], img.shape[0]) == size:
        return img.copy()
    shrinking = size[0] * size[1] < img.shape[0] * img.shape[1]
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def refine_mask(rgb: np.ndarray, mask: np.ndarray, radius: int | None = None) -> np.ndarray:
    """Edge-aware refinement of a soft person mask (guided filter with the photo as the guide)."""
    r = radius or max(2, round(max(rgb.shape[:2]) / 200))
    refined = cv2.ximgproc.guidedFilter(rgb, mask.astype(np.float32), r, 1e-3)
    return np.clip(refined, 0.0, 1.0)


def blend(a: np.ndarray, b: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """a * (1 - alpha) + b * alpha on float32 images; ``alpha`` HxW or scalar."""
    if isinstance(alpha, np.ndarray) and alpha.ndim == 2 and (np.ndim(a) == 3 or np.ndim(b) == 3 or np.ndim(a) == 1):
        alpha = alpha[..., None]
    return a * (1.0 - alpha) + b * alpha


def to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Set enclosed background pockets (not connected to the image border) of a soft mask to foreground."""
    solid = (mask > 0.5).astype(np.uint8)
    h, w = solid.shape
    flood = np.pad(solid, 1, constant_values=0)
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 2)
    holes = flood[1:-1, 1:-1] == 0
    out = mask.copy()
    out[holes] = 1.0
    return out


def decontaminate(rgb: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Replace the colour of soft-edge pixels (0 < alpha < 1, e.g. hair against the old backdrop) by the colour of
    nearby solid foreground, so compositing on a new background leaves no halo. Returns float32 RGB."""
    img = rgb.astype(np.float32)
    core = (alpha > 0.97).astype(np.float32)
    weight = cv2.GaussianBlur(core, (0, 0), sigma)
    spread = cv2.GaussianBlur(img * core[..., None], (0, 0), sigma) / np.maximum(weight, 1e-4)[..., None]
    take = np.clip((1.0 - alpha) * 1.5, 0, 1) * (weight > 1e-3)
    return blend(img, spread, take)
