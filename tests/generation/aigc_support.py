"""Independent readers for the AI-content labels: exiftool for the metadata, pixel measurements for the visible one."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
BRIGHT = 200  # the label's text is white on a dark plate; the test backgrounds stay below this


def exiftool_label(data: bytes) -> dict:
    """The AIGC JSON as exiftool (Debian libimage-exiftool-perl) reads it: XMP TC260:AIGC or the MP4 key AIGC."""
    exe = shutil.which("exiftool")
    if exe is None:
        if os.environ.get("MIAOHUA_REQUIRE_EXIFTOOL"):
            pytest.fail("exiftool is not installed (.ci/run installs libimage-exiftool-perl)")
        pytest.skip("exiftool is not installed (apt-get install libimage-exiftool-perl)")
    proc = subprocess.run([exe, "-j", "-u", "-XMP-TC260:AIGC", "-Keys:AIGC", "-"], input=data, capture_output=True,
                          check=True, timeout=60)
    [tags] = json.loads(proc.stdout)
    value = tags.get("AIGC") if "AIGC" in tags else tags.get("Aigc")
    assert value is not None, f"exiftool found no AIGC label: {tags}"
    return json.loads(value) if isinstance(value, str) else value


def text_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the near-white pixels: the label's inked text on a darker picture."""
    bright = np.all(rgb >= BRIGHT, axis=2)
    rows, cols = np.flatnonzero(bright.any(axis=1)), np.flatnonzero(bright.any(axis=0))
    if not len(rows):
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def image_bytes(size: tuple[int, int], fmt: str = "PNG", colour=(120, 130, 140)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()
