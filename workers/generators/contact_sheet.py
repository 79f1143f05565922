"""Render every catalogue style from one portrait into a labelled contact sheet (``docs/styles.png``).

    python -m workers.generators.contact_sheet tests/data/portrait-astronaut.png docs/styles.png

Labels use a CJK font when one is installed (e.g. Debian's fonts-wqy-microhei), else English only. The video is
shown as its first, middle and last frames, decoded with the bundled ffmpeg.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .base import GeneratedImage, GeneratedVideo, GenerationRequest
from .classical import ClassicalGenerator
from .imaging import decode_image
from .styles import list_styles
from .video import ffmpeg_exe

CELL = 300
LABEL_H = 62
CJK_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    for path in CJK_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size), True
    try:
        import matplotlib

        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"), size), False
    except (ImportError, OSError):
        return ImageFont.load_default(), False


def _video_frames(data: bytes, frame_count: int, width: int, height: int) -> list[np.ndarray]:
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            "pipe:0",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ],
        input=data,
        capture_output=True,
        check=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
    return [frames[0], frames[len(frames) // 2], frames[-1]]


def _cell(rgb: np.ndarray, title: str, subtitle: str, font, small) -> Image.Image:
    im = Image.fromarray(rgb)
    im.thumbnail((CELL, CELL), Image.Resampling.LANCZOS)
    cell = Image.new("RGB", (CELL, CELL + LABEL_H), (40, 40, 46))
    cell.paste(im, ((CELL - im.width) // 2, (CELL - im.height) // 2))
    draw = ImageDraw.Draw(cell)
    draw.text((8, CELL + 3), title, fill=(255, 255, 255), font=font)
    for i, line in enumerate(subtitle.split("\n")[:2]):
        draw.text((8, CELL + 25 + 17 * i), line, fill=(170, 170, 180), font=small)
    return cell


def build(source: Path, out: Path, columns: int = 5) -> list[tuple[str, float]]:
    data = source.read_bytes()
    font, cjk = _font(17)
    small, _ = _font(13)
    gen = ClassicalGenerator()
    cells = [
        _cell(
            decode_image(data), "原图" if cjk else "Original", ("Original\n" if cjk else "") + source.name, font, small
        )
    ]
    timings = []
    for style in list_styles():
        sources = (data,) * (3 if style.kind == "avatar" else 1)
        start = time.perf_counter()
        [result] = gen.generate(GenerationRequest(style=style, sources=sources), None)
        timings.append((style.id, time.perf_counter() - start))
        name = style.name_zh if cjk else style.name_en
        info = (f"{style.name_en}\n" if cjk else "") + f"{style.id} · {result.width}x{result.height}"
        if isinstance(result, GeneratedVideo):
            for label, frame in zip(
                ("first", "middle", "last"),
                _video_frames(result.data, result.frame_count, result.width, result.height),
                strict=True,
            ):
                cells.append(_cell(frame, name, f"{info} · {result.duration_s:g} s, {label}", font, small))
        else:
            assert isinstance(result, GeneratedImage)
            cells.append(_cell(decode_image(result.data), name, info, font, small))
    rows = -(-len(cells) // columns)
    sheet = Image.new("RGB", (columns * CELL, rows * (CELL + LABEL_H)), (24, 24, 28))
    for i, cell in enumerate(cells):
        sheet.paste(cell, ((i % columns) * CELL, (i // columns) * (CELL + LABEL_H)))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    return timings


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/portrait-astronaut.png")
    dst = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/styles.png")
    for style_id, seconds in build(src, dst):
        print(f"{style_id:16s} {seconds:6.2f} s")
    print(f"wrote {dst}")
