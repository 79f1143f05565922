"""Pictures of the AI-content labels for docs/demo/, made by the real pipeline (classical backend, labelling code):

    .venv/bin/python -m tests.demo.label_shots --out docs/demo

- ``18-labelled-hd-image.png``: a paid HD original ("pop_art") as the user downloads it, with its "AI生成" label;
- ``19-labelled-video-frame.png``: the opening frame of a generated video ("living_photo"), labelled the same way.
Both files are PNG copies of what is served; the served files also carry the signed metadata label.
"""

from __future__ import annotations

import argparse
import io
import subprocess
from pathlib import Path

from PIL import Image

from app import create_app
from app.generation import previews
from tests.demo.browser_tour import shrink
from workers.generators import GenerationRequest, get_generator, get_style
from workers.generators.video import ffmpeg_exe

PORTRAIT = Path(__file__).resolve().parents[1] / "data" / "portrait-astronaut.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/demo"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = create_app("testing")
    generator = get_generator("classical")
    portrait = PORTRAIT.read_bytes()
    with app.app_context():
        [image] = generator.generate(GenerationRequest(style=get_style("pop_art"), sources=(portrait,)), None)
        original, _ = previews.labelled_original(image.data, "demo-image")
        Image.open(io.BytesIO(original)).save(args.out / "18-labelled-hd-image.png")

        [video] = generator.generate(GenerationRequest(style=get_style("living_photo"), sources=(portrait,)), None)
        served = previews.labelled_video(video.data, "demo-video")
        first = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", "pipe:0", "-frames:v", "1", "-f", "image2pipe",
                                "-c:v", "png", "pipe:1"], input=served, capture_output=True, check=True).stdout
        (args.out / "19-labelled-video-frame.png").write_bytes(first)
    for name in ("18-labelled-hd-image.png", "19-labelled-video-frame.png"):
        shrink(args.out / name)
    print(f"wrote {args.out}/18-labelled-hd-image.png and {args.out}/19-labelled-video-frame.png")


if __name__ == "__main__":
    main()
