"""Helpers shared by the generator tests (kept out of conftest.py so modules can import them)."""

from __future__ import annotations

import importlib

import pytest

MODEL_MODULES = ("numpy", "cv2", "mediapipe", "imageio_ffmpeg", "PIL")


def require_models() -> None:
    """Skip the calling test module unless the model stack imports."""
    problems = []
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        pytest.skip(
            "generation model stack not importable (" + "; ".join(problems) + "): "
            "install requirements.txt and, with --no-deps, requirements-nodeps.txt (make test does)",
            allow_module_level=True,
        )


def png_bytes(rgb) -> bytes:
    from workers.generators.imaging import encode_image

    return encode_image(rgb, "png")[0]
