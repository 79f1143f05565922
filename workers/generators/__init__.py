"""Image and video generation backends.

``base`` (the interface and the backend registry) and ``styles`` (the catalogue) import no model dependencies;
``get_generator("classical")`` loads the CPU backend (mediapipe + OpenCV; requirements-nodeps.in)::

    from workers.generators import GenerationRequest, get_generator, get_style

    request = GenerationRequest(style=get_style("anime"), sources=(jpeg_bytes,))
    [image] = get_generator("classical").generate(request, progress=lambda f: ...)
"""

from .base import (
    STYLE_KINDS,
    GeneratedImage,
    GeneratedVideo,
    GenerationError,
    GenerationRequest,
    Generator,
    GeneratorUnavailable,
    InvalidImage,
    InvalidRequest,
    NoFaceFound,
    ProgressFn,
    Result,
    StyleSpec,
    UnknownGenerator,
    UnknownStyle,
    available_generators,
    get_generator,
    register_generator,
)
from .styles import ID_BACKGROUNDS, STYLES, get_style, list_styles

__all__ = [
    "ID_BACKGROUNDS",
    "STYLES",
    "STYLE_KINDS",
    "GeneratedImage",
    "GeneratedVideo",
    "GenerationError",
    "GenerationRequest",
    "Generator",
    "GeneratorUnavailable",
    "InvalidImage",
    "InvalidRequest",
    "NoFaceFound",
    "ProgressFn",
    "Result",
    "StyleSpec",
    "UnknownGenerator",
    "UnknownStyle",
    "available_generators",
    "get_generator",
    "get_style",
    "list_styles",
    "register_generator",
]
