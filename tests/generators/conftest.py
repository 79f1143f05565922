"""Fixtures for the generation backend tests.

The model stack (numpy, OpenCV, mediapipe, imageio-ffmpeg) may be missing from the main
test environment: test modules that need it call ``support.require_models()`` at import and are skipped with the
reason; fixtures import it lazily.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PORTRAIT = Path(__file__).resolve().parents[1] / "data" / "portrait-astronaut.png"


@pytest.fixture(scope="session")
def portrait_bytes() -> bytes:
    return PORTRAIT.read_bytes()


@pytest.fixture(scope="session")
def portrait_rgb(portrait_bytes):
    from workers.generators.imaging import decode_image

    return decode_image(portrait_bytes)


@pytest.fixture(scope="session")
def generator():
    from workers.generators import get_generator

    return get_generator("classical")
