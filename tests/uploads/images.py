"""Real image files for upload tests, made from the sample portrait."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter

PORTRAIT = Path(__file__).resolve().parent.parent / "data" / "portrait-astronaut.png"


def portrait() -> Image.Image:
    return Image.open(PORTRAIT).convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    image = portrait()
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 1  # Orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (31.0, 11.0, 52.0)
    gps[3], gps[4] = "E", (121.0, 25.0, 48.0)
    return encode(image, "JPEG", exif=exif, quality=95)


def rotated_by_exif() -> bytes:
    """Pixels stored sideways with Orientation=6 (rotate 90° CW to view), as phones do."""
    image = portrait().rotate(90, expand=True).crop((0, 0, 512, 400))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif)


def animated_webp() -> bytes:
    frames = [portrait(), portrait().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def no_face() -> bytes:
    gradient = Image.linear_gradient("L").resize((512, 512)).convert("RGB")
    return encode(gradient)


def two_faces() -> bytes:
    one = portrait()
    canvas = Image.new("RGB", (1024, 512))
    canvas.paste(one, (0, 0))
    canvas.paste(one.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (512, 0))
    return encode(canvas)


def blurry() -> bytes:
    return encode(portrait().filter(ImageFilter.GaussianBlur(4)))


def dark() -> bytes:
    return encode(ImageEnhance.Brightness(portrait()).enhance(0.12))


def small_face() -> bytes:
    canvas = Image.new("RGB", (2400, 2400), (200, 200, 200))
    canvas.paste(portrait().resize((160, 160)), (1100, 1100))
    return encode(canvas)


def tiny() -> bytes:
    return encode(portrait().resize((120, 120)))


def png_bomb(side: int = 20000) -> bytes:
    """A real decompression bomb: a valid PNG of side×side black pixels, about 1 MB compressed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + b"\x00" * (side * 3)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def large_jpeg_with_gps(min_bytes: int = 2_000_000) -> bytes:
    """A phone-sized portrait (2560×2560 with sensor-like noise, EXIF GPS) of at least ``min_bytes``."""
    import numpy as np

    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (31.0, 11.0, 52.0)
    gps[3], gps[4] = "E", (121.0, 25.0, 48.0)
    pixels = np.asarray(portrait().resize((2560, 2560), Image.Resampling.BILINEAR)).astype(np.int16)
    noise = np.random.default_rng(16).integers(-8, 9, size=pixels.shape, dtype=np.int16)
    data = encode(Image.fromarray((pixels + noise).clip(0, 255).astype(np.uint8)), "JPEG", exif=exif, quality=95)
    assert len(data) >= min_bytes, len(data)
    return data
