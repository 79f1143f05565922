"""Free previews carry a visible watermark and an "AI-generated" label; every image file carries
the label in its metadata too (China's rules on labelling AI-generated content: explicit + implicit).
"""

from __future__ import annotations

import io
import json

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

PREVIEW_LONG_SIDE = 720
VISIBLE_LABEL = "AI-generated · Miaohua"
WATERMARK = "MIAOHUA PREVIEW"


def implicit_label(job_public_id: str) -> str:
    """The metadata label (JSON), naming the producer and the job, never the person."""
    return json.dumps({"AIGC": {"Label": "1", "ContentProducer": "Miaohua", "ProduceID": job_public_id}},
                      separators=(",", ":"))


def labelled_original(image_bytes: bytes, job_public_id: str) -> tuple[bytes, str]:
    """The full-resolution image with the implicit label in its metadata (PNG text / JPEG comment)."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        image.load()
        return _encode(image, implicit_label(job_public_id), keep_format=True)


def watermarked_preview(image_bytes: bytes, job_public_id: str) -> tuple[bytes, str]:
    with Image.open(io.BytesIO(image_bytes)) as source:
        image = source.convert("RGB")
    image.thumbnail((PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE))
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    size = max(14, image.width // 18)
    font = ImageFont.load_default(size=size)
    step = size * 6
    for y in range(-image.height, image.height * 2, step):  # diagonal tiled watermark
        for x in range(-image.width, image.width * 2, step * 2):
            draw.text((x + (y // step % 2) * step, y), WATERMARK, font=font, fill=(255, 255, 255, 70))
    overlay = overlay.rotate(30, resample=Image.Resampling.BICUBIC)
    label_font = ImageFont.load_default(size=max(12, image.width // 28))
    box = draw.textbbox((0, 0), VISIBLE_LABEL, font=label_font)
    pad = 6
    label = Image.new("RGBA", image.size, (0, 0, 0, 0))
    label_draw = ImageDraw.Draw(label)
    x0, y0 = image.width - (box[2] - box[0]) - 3 * pad, image.height - (box[3] - box[1]) - 3 * pad
    label_draw.rectangle((x0, y0, image.width - pad, image.height - pad), fill=(0, 0, 0, 150))
    label_draw.text((x0 + pad, y0 + pad // 2), VISIBLE_LABEL, font=label_font, fill=(255, 255, 255, 255))
    composed = Image.alpha_composite(Image.alpha_composite(image.convert("RGBA"), overlay), label).convert("RGB")
    return _encode(composed, implicit_label(job_public_id), keep_format=False)


def _encode(image: Image.Image, label: str, *, keep_format: bool) -> tuple[bytes, str]:
    out = io.BytesIO()
    if keep_format and (image.format == "PNG" or image.mode in ("RGBA", "LA")):
        info = PngImagePlugin.PngInfo()
        info.add_text("AIGC", label)
        image.save(out, format="PNG", pnginfo=info)
        return out.getvalue(), "image/png"
    image.convert("RGB").save(out, format="JPEG", quality=90, comment=label.encode())
    return out.getvalue(), "image/jpeg"
