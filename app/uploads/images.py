"""Validate and normalise an uploaded photo with Pillow, before anything is stored.

Order matters: the header is read first (format sniffed from the bytes, never from the filename or
MIME type; pixel count checked before decoding, so a decompression bomb costs nothing), then the
image is decoded, rotated upright by its EXIF orientation, converted to sRGB and re-encoded as a
JPEG without any metadata (EXIF with GPS, XMP, ICC, comments are all dropped).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from app.core.i18n import _l

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
OUTPUT_QUALITY = 92

# Messages the mini-program can show as they are (in the request's language; zh_CN by default).
REASONS = {
    "unsupported_format": _l("Upload a JPG, PNG or WebP photo."),
    "corrupt": _l("The photo file is damaged or incomplete; choose it again."),
    "animated": _l("Upload a still photo; animated images are not supported."),
    "too_small": _l("The photo's resolution is too low; upload a sharper photo."),
    "too_many_pixels": _l("The photo is too large; upload a smaller one."),
    "empty": _l("No photo was received; upload it again."),
    "no_face": _l("No face was found in the photo; upload a photo of your face, looking at the camera."),
    "multiple_faces": _l("The photo shows several faces; upload a photo of yourself only."),
    "face_too_small": _l("The face is too small; upload a closer photo."),
    "too_blurry": _l("The photo is too blurry; upload a sharp photo of your face."),
    "too_dark": _l("The photo is too dark; take it in good light."),
}


class ImageRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user_message = REASONS[reason]


ANALYSIS_LONG_SIDE = 1024


@dataclass(frozen=True)
class NormalisedImage:
    jpeg: bytes
    width: int
    height: int
    source_format: str
    analysis: Image.Image  # the same pixels at most ANALYSIS_LONG_SIDE wide, for the face check (no re-decode)


def normalise(data: bytes, *, max_pixels: int, min_side: int) -> NormalisedImage:
    if not data:
        raise ImageRejected("empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError as exc:
        raise ImageRejected("unsupported_format") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too_many_pixels") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected("corrupt") from exc
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageRejected("too_many_pixels")
        if getattr(image, "is_animated", False) and getattr(image, "n_frames", 1) > 1:
            raise ImageRejected("animated")
        if min(width, height) < min_side:
            raise ImageRejected("too_small")
        source_format = image.format or "unknown"
        try:
            image.load()
            upright = ImageOps.exif_transpose(image) if image.getexif().get(0x0112, 1) != 1 else image
            rgb = _to_srgb(upright)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ImageRejected("corrupt") from exc
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=OUTPUT_QUALITY, optimize=False)  # no exif=, icc_profile=: none kept
    factor = -(-max(rgb.size) // ANALYSIS_LONG_SIDE)  # ceil: a box reduction is fast and good enough here
    analysis = rgb.reduce(factor) if factor > 1 else rgb
    return NormalisedImage(out.getvalue(), rgb.width, rgb.height, source_format, analysis)


def _to_srgb(image: Image.Image) -> Image.Image:
    icc = image.info.get("icc_profile")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flattened = Image.new("RGB", rgba.size, (255, 255, 255))
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        image = flattened
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if icc:
        # Colour managed source: convert to sRGB so the profile can be dropped without a colour shift.
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            image = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile: keep the pixels as they are
    image.info.clear()
    return image
