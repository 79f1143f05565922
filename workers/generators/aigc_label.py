"""The explicit (visible) AI-content label of GB 45438-2025: the Chinese words "AI生成" in a corner of every
image and every video frame, the text at least 5 % of the shortest side high.

The CJK font comes from the ``noto-cjk-sans-otc`` wheel (Noto Sans CJK SC, OFL), pinned in requirements.in, so
every machine that installs the project has it. Without it, or with a font that lacks the glyphs, drawing fails
loudly (``LabelFontMissing``) instead of stamping empty boxes ("tofu") on a user's file.

Videos carry the label on every frame (the standard asks for it on the opening frames for at least 2 s; a
persistent corner label meets that whatever the length). The label's pixels are computed once per frame size
and alpha-blended onto each frame, so labelling a video costs a few milliseconds per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LABEL_TEXT = "AI生成"
MIN_TEXT_FRACTION = 0.05  # the standard's minimum text height, as a fraction of the shortest side
TEXT_FRACTION = 0.06  # what we draw: a margin above the minimum for resampling and compression
MIN_TEXT_PX = 12  # legible even on tiny thumbnails
_SC_FACE_INDEX = 2  # NotoSansCJK-Regular.ttc: JP, KR, SC, TC, HK, ...
_PLATE_RGBA = (0, 0, 0, 150)
_TEXT_RGBA = (255, 255, 255, 255)


class LabelFontMissing(RuntimeError):
    """No usable CJK font: refuse to produce an unlabelled (or tofu-labelled) file."""


@lru_cache(maxsize=1)
def font_path() -> str:
    try:
        import noto_cjk_sans_otc
    except ImportError as exc:  # pragma: no cover - requirements.in installs it
        raise LabelFontMissing("the CJK font package noto-cjk-sans-otc is not installed (pip install -r "
                               "requirements.in); refusing to draw the AI label without it") from exc
    path = noto_cjk_sans_otc.FONT_PATH
    if not path.is_file():
        raise LabelFontMissing(f"the CJK font file {path} is missing")
    return str(path)


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return check_glyphs(ImageFont.truetype(font_path(), size, index=_SC_FACE_INDEX))


def check_glyphs(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> ImageFont.FreeTypeFont:
    """The font, if it draws every character of the label; ``LabelFontMissing`` if any comes out as "tofu"."""
    notdef = _glyph(font, "\U000f0000")  # a private-use code point: the font's "missing glyph" box
    for char in LABEL_TEXT:
        if not char.isascii() and _glyph(font, char) == notdef:
            raise LabelFontMissing(f"the font {font.getname()} has no glyph for {char!r}")
    return font


def _glyph(font, char: str) -> bytes:
    canvas = Image.new("L", (2 * int(font.size), 2 * int(font.size)))
    ImageDraw.Draw(canvas).text((0, 0), char, font=font, fill=255)
    return canvas.tobytes()


def _ink_height(font: ImageFont.FreeTypeFont) -> int:
    _left, top, _right, bottom = font.getbbox(LABEL_TEXT)
    return bottom - top


@lru_cache(maxsize=256)
def font_for(width: int, height: int) -> ImageFont.FreeTypeFont:
    """The smallest font whose inked "AI生成" is at least ``TEXT_FRACTION`` of the shortest side high."""
    target = max(MIN_TEXT_PX, int(np.ceil(TEXT_FRACTION * min(width, height))))
    size = max(8, int(target / 0.9))
    while _ink_height(_font(size)) < target:
        size += 1
    return _font(size)


@dataclass(frozen=True)
class Stamp:
    """The label's pixels for one image size: an RGBA patch and where its top-left corner goes."""

    patch: np.ndarray  # h x w x 4, uint8
    x: int
    y: int


@lru_cache(maxsize=32)
def stamp_for(width: int, height: int) -> Stamp:
    """A dark plate with the white label in the bottom-right corner, clear of the edge."""
    font = font_for(width, height)
    left, top, right, bottom = font.getbbox(LABEL_TEXT)
    text_w, text_h = right - left, bottom - top
    pad = max(3, text_h // 3)
    plate_w, plate_h = min(width, text_w + 2 * pad), min(height, text_h + 2 * pad)
    margin = max(2, min(width, height) // 50)
    x, y = max(0, width - plate_w - margin), max(0, height - plate_h - margin)
    plate = Image.new("RGBA", (plate_w, plate_h), _PLATE_RGBA)
    ImageDraw.Draw(plate).text((pad - left, pad - top), LABEL_TEXT, font=font, fill=_TEXT_RGBA)
    return Stamp(np.asarray(plate), x, y)


def stamp_array(frame: np.ndarray) -> np.ndarray:
    """The label drawn onto an RGB uint8 frame (a new array; the input is left alone)."""
    height, width = frame.shape[:2]
    stamp = stamp_for(width, height)
    ph, pw = stamp.patch.shape[:2]
    out = frame.copy()
    region = out[stamp.y : stamp.y + ph, stamp.x : stamp.x + pw].astype(np.float32)
    alpha = stamp.patch[..., 3:4].astype(np.float32) / 255.0
    region = region * (1 - alpha) + stamp.patch[..., :3].astype(np.float32) * alpha
    out[stamp.y : stamp.y + ph, stamp.x : stamp.x + pw] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
    return out


def stamp_image(image: Image.Image) -> Image.Image:
    """The label drawn onto a PIL image (RGB; an RGBA image keeps its alpha, made opaque under the label)."""
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        stamp = stamp_for(*rgba.size)
        alpha = np.array(rgba.getchannel("A"))
        ph, pw = stamp.patch.shape[:2]
        alpha[stamp.y : stamp.y + ph, stamp.x : stamp.x + pw] = 255
        labelled = Image.fromarray(stamp_array(np.asarray(rgba.convert("RGB"))))
        labelled.putalpha(Image.fromarray(alpha))
        return labelled
    return Image.fromarray(stamp_array(np.asarray(image.convert("RGB"))))
