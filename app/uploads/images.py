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

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
OUTPUT_QUALITY = 92

# Messages the mini-program can show as they are.
REASONS = {
    "unsupported_format": "请上传 JPG、PNG 或 WebP 格式的照片。",
    "corrupt": "照片文件已损坏或不完整，请重新选择。",
    "animated": "请上传静态照片，不支持动图。",
    "too_small": "照片分辨率太低，请上传更清晰的照片。",
    "too_many_pixels": "照片尺寸过大，请上传较小的照片。",
    "empty": "没有收到照片，请重新上传。",
    "no_face": "没有检测到人脸，请上传一张正脸照片。",
    "multiple_faces": "照片中有多张人脸，请上传只有您本人的照片。",
    "face_too_small": "人脸太小，请上传脸部更大、更近的照片。",
    "too_blurry": "照片太模糊，请上传清晰的正脸照片。",
    "too_dark": "照片太暗，请在光线充足处拍摄。",
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
