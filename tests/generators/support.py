"""Helpers shared by the generator tests (kept out of conftest.py so modules can import them)."""

from __future__ import annotations

import importlib

import pytest

MODEL_MODULES = ("numpy", "cv2", "mediapipe", "imageio_ffmpeg", "PIL")


def skip_unless_importable(modules: tuple[str, ...], what: str, hint: str, *, module_level: bool = False) -> None:
    """Skip the caller unless every module imports, saying which did not and how to install them."""
    problems = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        pytest.skip(f"{what} not importable (" + "; ".join(problems) + f"): {hint}",
                    allow_module_level=module_level)


def require_models() -> None:
    """Skip the calling test module unless the model stack imports."""
    skip_unless_importable(MODEL_MODULES, "generation model stack",
                           "install requirements.txt and, with --no-deps, requirements-nodeps.lock (make test does)",
                           module_level=True)


def png_bytes(rgb) -> bytes:
    from workers.generators.imaging import encode_image

    return encode_image(rgb, "png")[0]
