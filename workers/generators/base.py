"""The generation backend interface: requests, results, errors and the backend registry.

Nothing here imports numpy, OpenCV or mediapipe, so the web app can build requests and look up styles without the
model dependencies installed; a backend's heavy imports happen when ``get_generator`` first creates it.

Source images are **encoded bytes** (JPEG, PNG or WebP as uploaded and stored), not decoded arrays: that is what the
job queue and the object store carry, requests stay small and picklable, and each backend decodes through one place
that applies the EXIF orientation, refuses decompression bombs and normalises to 8-bit RGB (see
``classical.decode_image``).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, Protocol, runtime_checkable

StyleKind = Literal["photo", "id_photo", "avatar", "video"]
STYLE_KINDS: tuple[str, ...] = ("photo", "id_photo", "avatar", "video")
ImageFormat = Literal["png", "jpeg"]

# How many source images each kind takes (inclusive).
SOURCE_COUNTS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {"photo": (1, 1), "id_photo": (1, 1), "avatar": (3, 10), "video": (1, 1)}
)


class GenerationError(Exception):
    """Base class of every error a generator raises on purpose; ``code`` is stable and safe to show to clients."""

    code = "generation_failed"


class InvalidRequest(GenerationError):
    code = "invalid_request"


class InvalidImage(GenerationError):
    """A source could not be decoded, or is too large / too small."""

    code = "invalid_image"


class NoFaceFound(GenerationError):
    """No face was detected in a source that needs one (every style does)."""

    code = "no_face"

    def __init__(self, message: str = "no face was found in the photo", source_index: int = 0) -> None:
        super().__init__(message)
        self.source_index = source_index


class UnknownStyle(GenerationError, LookupError):
    code = "unknown_style"


class UnknownGenerator(GenerationError, LookupError):
    code = "unknown_generator"


class GeneratorUnavailable(GenerationError):
    """The backend exists but cannot run here (its dependencies are not installed)."""

    code = "generator_unavailable"


@dataclass(frozen=True)
class StyleSpec:
    """One entry of the style catalogue (see ``styles.py``) or a request's copy of it.

    ``params`` are backend parameters; a request may override some of them (e.g. the ID photo background colour)
    with ``with_params``.
    """

    id: str
    kind: StyleKind
    params: Mapping[str, Any] = field(default_factory=dict)
    name_zh: str = ""
    name_en: str = ""

    def __post_init__(self) -> None:
        if self.kind not in STYLE_KINDS:
            raise InvalidRequest(f"style {self.id!r}: unknown kind {self.kind!r}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def with_params(self, **overrides: Any) -> StyleSpec:
        return replace(self, params={**self.params, **overrides})


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate.

    - ``style``: the catalogue entry (``styles.get_style(id)``), possibly with overridden params.
    - ``sources``: encoded images (JPEG/PNG/WebP bytes); 1 for photo, id_photo and video, 3–10 for avatar.
    - ``long_side``: output long side in pixels for photo/avatar/video (``None``: the style's default, 1024 for
      images, 720 for video). ID photos ignore it: their pixel size is fixed by the spec.
    - ``image_format``: ``png`` (default) or ``jpeg`` for image results.
    """

    style: StyleSpec
    sources: tuple[bytes, ...]
    long_side: int | None = None
    image_format: ImageFormat = "png"
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        if not all(isinstance(s, bytes | bytearray) and len(s) for s in self.sources):
            raise InvalidRequest("sources must be non-empty encoded image bytes")
        object.__setattr__(self, "sources", tuple(bytes(s) for s in self.sources))
        low, high = SOURCE_COUNTS[self.style.kind]
        if not low <= len(self.sources) <= high:
            want = f"{low}" if low == high else f"{low}–{high}"
            raise InvalidRequest(f"a {self.style.kind} style takes {want} source image(s), got {len(self.sources)}")
        if self.long_side is not None and not 64 <= self.long_side <= 4096:
            raise InvalidRequest("long_side must be between 64 and 4096 pixels")
        if self.image_format not in ("png", "jpeg"):
            raise InvalidRequest("image_format must be 'png' or 'jpeg'")
        if not 30 <= self.jpeg_quality <= 100:
            raise InvalidRequest("jpeg_quality must be between 30 and 100")


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    mime: str  # image/png or image/jpeg; no metadata (EXIF, text chunks) is written
    width: int
    height: int
    meta: Mapping[str, Any] = field(default_factory=dict)  # e.g. the avatar's chosen source index


@dataclass(frozen=True)
class GeneratedVideo:
    data: bytes
    mime: str  # video/mp4 (H.264 High, yuv420p, no audio)
    width: int
    height: int
    frame_count: int
    fps: float
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps


Result = GeneratedImage | GeneratedVideo
ProgressFn = Callable[[float], None]


@runtime_checkable
class Generator(Protocol):
    """A generation backend. ``generate`` is synchronous, reports ``progress`` in [0, 1] (non-decreasing, ending
    with 1.0) and raises ``GenerationError`` subclasses for problems with the request or its images.
    Implementations must be safe to call from several threads of one process."""

    name: str

    def generate(self, request: GenerationRequest, progress: ProgressFn) -> list[Result]: ...


# The registry: backend name -> "module:attribute" of a zero-argument factory (usually the class), imported on
# first use (the diffusion stack is heavy and only installed on GPU workers: requirements-gpu.txt).
_FACTORIES: dict[str, str | Callable[[], Generator]] = {
    "classical": "workers.generators.classical:ClassicalGenerator",
    "diffusion": "workers.generators.diffusion:DiffusionGenerator",
}
_INSTANCES: dict[str, Generator] = {}
_LOCK = threading.Lock()


def register_generator(name: str, factory: str | Callable[[], Generator]) -> None:
    """Add (or replace) a backend: ``factory`` is a callable or a ``"module:attribute"`` string."""
    with _LOCK:
        _FACTORIES[name] = factory
        _INSTANCES.pop(name, None)


def available_generators() -> list[str]:
    return sorted(_FACTORIES)


def get_generator(name: str) -> Generator:
    """The process-wide instance of backend ``name`` (created on first use)."""
    with _LOCK:
        if name in _INSTANCES:
            return _INSTANCES[name]
        factory = _FACTORIES.get(name)
        if factory is None:
            raise UnknownGenerator(f"unknown generator {name!r}; available: {', '.join(sorted(_FACTORIES))}")
        if isinstance(factory, str):
            module_name, _, attr = factory.partition(":")
            try:
                factory = getattr(importlib.import_module(module_name), attr)
            except ImportError as exc:
                raise GeneratorUnavailable(
                    f"generator {name!r} needs packages that are not installed ({exc}); see requirements-nodeps.in"
                ) from exc
        instance = factory()
        _INSTANCES[name] = instance
        return instance
