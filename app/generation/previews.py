"""What a user sees and downloads of a result, labelled as AI-generated as China's rules require
(《人工智能生成合成内容标识办法》, GB 45438-2025; docs/aigc-labels.md):

- every image, the HD original included, carries the visible "AI生成" label in a corner (``aigc_label``);
- every file carries the implicit label in its metadata, signed with ``AIGC_LABEL_KEY`` (``aigc``);
- the free preview is small and watermarked; a video's preview is a poster frame of the clip.

Videos get their visible label from the generator (every frame); here they get the metadata label.
"""

from __future__ import annotations

import io
import subprocess

from flask import current_app
from PIL import Image, ImageDraw, ImageFont

from workers.generators.aigc_label import font_path, stamp_image

from . import aigc

PREVIEW_LONG_SIDE = 720
WATERMARK = "秒画预览 PREVIEW"
ORIGINAL_JPEG_QUALITY = 95


def _key() -> bytes:
    return current_app.config["AIGC_LABEL_KEY"].encode()


def _producer_label(data: bytes, produce_id: str) -> bytes:
    return aigc.label_as_producer(data, key=_key(), producer=current_app.config["AIGC_CONTENT_PRODUCER"],
                                  produce_id=produce_id)


def labelled_original(image_bytes: bytes, produce_id: str) -> tuple[bytes, str]:
    """The full-resolution image with the visible label and the signed metadata label."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        image.load()
        keep_png = image.format == "PNG" or image.mode in ("RGBA", "LA")
        labelled = stamp_image(image)
    out = io.BytesIO()
    if keep_png:
        labelled.save(out, format="PNG")
        mime = "image/png"
    else:
        labelled.convert("RGB").save(out, format="JPEG", quality=ORIGINAL_JPEG_QUALITY)
        mime = "image/jpeg"
    return _producer_label(out.getvalue(), produce_id), mime


def watermarked_preview(image_bytes: bytes, produce_id: str) -> tuple[bytes, str]:
    """A small JPEG with a tiled watermark, the visible label and the signed metadata label."""
    with Image.open(io.BytesIO(image_bytes)) as source:
        image = source.convert("RGB")
    image.thumbnail((PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE))
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    size = max(14, image.width // 18)
    font = ImageFont.truetype(font_path(), size, index=2)
    step = size * 6
    for y in range(-image.height, image.height * 2, step):  # diagonal tiled watermark
        for x in range(-image.width, image.width * 2, step * 2):
            draw.text((x + (y // step % 2) * step, y), WATERMARK, font=font, fill=(255, 255, 255, 70))
    overlay = overlay.rotate(30, resample=Image.Resampling.BICUBIC)
    composed = stamp_image(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))
    out = io.BytesIO()
    composed.save(out, format="JPEG", quality=85)
    return _producer_label(out.getvalue(), produce_id), "image/jpeg"


def labelled_video(video_bytes: bytes, produce_id: str) -> bytes:
    """The MP4 with the signed metadata label (its frames already carry the visible label)."""
    return _producer_label(video_bytes, produce_id)


def video_poster(video_bytes: bytes, frame_index: int, produce_id: str) -> tuple[bytes, str]:
    """The free preview of a video: one frame (the styled end of the clip), watermarked and labelled."""
    from workers.generators.video import ffmpeg_exe

    # fmt: off
    proc = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "mp4", "-i", "pipe:0",
         "-vf", f"select=eq(n\\,{max(0, frame_index)})", "-frames:v", "1", "-f", "image2pipe", "-c:v", "png",
         "pipe:1"],
        input=video_bytes, capture_output=True, timeout=60, check=False,
    )
    # fmt: on
    if proc.returncode != 0 or not proc.stdout:
        raise aigc.LabelError(f"no poster frame: {proc.stderr.decode(errors='replace')[-300:]}")
    return watermarked_preview(proc.stdout, produce_id)


def for_propagation(data: bytes, produce_id: str, propagate_id: str) -> bytes:
    """A file served through a share link: the propagator fields added to its label, signed. A file stored
    before labels were signed (no XMP label yet) gets its producer label first."""
    if aigc.read(data) is None:
        data = _producer_label(data, produce_id)
    return aigc.label_as_propagator(data, key=_key(), propagator=current_app.config["AIGC_CONTENT_PROPAGATOR"],
                                    propagate_id=propagate_id)
