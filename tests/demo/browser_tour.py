"""Screenshots of every step of the demo page, for docs/demo/: the browser tests, photographing as they go.

    .venv/bin/python tests/demo/browser_tour.py --out docs/demo                  # on a fresh `make run` of its own
    .venv/bin/python tests/demo/browser_tour.py --base-url http://127.0.0.1:5000 --out docs/demo   # a running one

It runs ``tests/demo/test_browser_journey.py`` (headless Chromium through Playwright: the whole journey, then a
child's guardian consent) with ``DEMO_SCREENSHOTS_DIR`` set, so the pictures are of the very run whose checks
passed; it exits with pytest's status. Needs Chromium (Debian: ``apt-get install -y chromium``) and, for
legible Chinese in the pictures, a CJK font (Debian: ``fonts-noto-cjk``). The PNGs are then reduced to 256
colours (``shrink``: less than half the bytes, no visible difference at this size) to keep the repository small.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = "tests/demo/test_browser_journey.py"


def shrink(path: Path) -> None:
    """Rewrite a PNG with a 256-colour palette (dithered) when that is smaller; screenshots lose nothing visible."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    buffer = io.BytesIO()
    rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
        buffer, "PNG", optimize=True)
    if buffer.tell() < path.stat().st_size:
        path.write_bytes(buffer.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", help="a running stack's web app (default: start a fresh `make run`)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "demo", help="where the PNGs go")
    arguments = parser.parse_args()
    if shutil.which("fc-list") and not subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout:
        print("warning: no Chinese font installed, the screenshots will show boxes (Debian: fonts-noto-cjk)")
    env = dict(os.environ, DEMO_SCREENSHOTS_DIR=str(arguments.out.resolve()), MIAOHUA_REQUIRE_BROWSER="1")
    if arguments.base_url:
        env["DEMO_BASE_URL"] = arguments.base_url
    status = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TESTS], cwd=ROOT, env=env)
    shots = sorted(arguments.out.glob("*.png"))
    for shot in shots:
        shrink(shot)
    print(f"{len(shots)} screenshots in {arguments.out}" + ("" if status == 0 else f"; pytest exited {status}"))
    return status


if __name__ == "__main__":
    sys.exit(main())
