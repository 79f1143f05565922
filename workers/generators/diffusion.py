"""The GPU ("diffusion") backend: photo styles through a ``diffusers`` image-to-image pipeline.

- ``photo``: the portrait, resized so its long side is the requested one (default 1024) and both sides are
  multiples of 8, is redrawn by an img2img pipeline with the style's prompt, negative prompt, strength, guidance
  and step count (``diffusion_styles.py``; overridable per style or request with a ``diffusion`` params sub-dict).
  Like the classical backend it refuses a photo without a face (``NoFaceFound``, mediapipe's detector).
- ``id_photo``, ``avatar``, ``video``: delegated to the classical backend (``get_generator("classical")``). An ID
  photo needs exact geometry and a faithful face, which a diffusion model does not give; identity-conditioned
  avatars and image-to-video need other pipelines and weights (not done yet).

The model: a ``diffusers`` folder (``model_index.json`` plus one sub-folder per component, safetensors weights) at
``$DIFFUSION_MODEL_DIR``, loaded with ``AutoPipelineForImage2Image.from_pretrained(dir, local_files_only=True,
use_safetensors=True)``: float16 on CUDA, float32 on CPU (``$DIFFUSION_DTYPE`` overrides), on ``$DIFFUSION_DEVICE``
(default ``cuda`` when available, else ``cpu``). Nothing is ever fetched: ``HF_HUB_OFFLINE=1`` and
``TRANSFORMERS_OFFLINE=1`` are set before the stack is imported, and only a local folder is accepted.

Processes and threads: the pipeline is loaded once per process, lazily (first photo job, or ``load()``), under a
lock; one inference runs at a time per process (a pipeline and its scheduler keep per-call state; one GPU gains
little from concurrent calls). Never load it in a process that forks job processes: CUDA cannot be used in a child
forked after it was initialised (and OpenMP thread pools may hang there). A child that inherited a loaded pipeline
gets ``GeneratorUnavailable``; run GPU workers without forking (``python -m workers --simple``), so the model stays
loaded between jobs.

Determinism: the seed is derived from the style and the source bytes (``diffusion_styles.derive_seed``) and the
initial noise is drawn on the CPU, so the same request gives the same picture: byte-identical on CPU; on CUDA up to
the GPU kernels' own nondeterminism (tiny differences between runs or GPU models are possible).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from .base import (
    GeneratedImage,
    GenerationError,
    GenerationRequest,
    GeneratorUnavailable,
    NoFaceFound,
    ProgressFn,
    Result,
    get_generator,
)
from .diffusion_styles import DiffusionParams, resolve_params
from .imaging import decode_image, encode_image, fit_long_side, resize

ENV_MODEL_DIR = "DIFFUSION_MODEL_DIR"
ENV_DEVICE = "DIFFUSION_DEVICE"
ENV_DTYPE = "DIFFUSION_DTYPE"
REQUIRED_PACKAGES = ("torch", "diffusers", "transformers", "safetensors")
DEFAULT_IMAGE_LONG_SIDE = 1024
ANALYSIS_LONG_SIDE = 1024  # the face check runs on a copy at most this large
DELEGATED_KINDS = frozenset({"id_photo", "avatar", "video"})
_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
_GPU_INSTALL_HINT = "install requirements-gpu.txt (see workers/generators/README.md, 'Diffusion (GPU) backend')"


class ContentRejected(GenerationError):
    """The model folder's safety checker flagged the result (only when the folder has one)."""

    code = "content_rejected"


def round8(value: float) -> int:
    """The nearest multiple of 8, at least 64 (latents are 1/8 of the image in Stable Diffusion models)."""
    return max(64, int(value / 8 + 0.5) * 8)


def output_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    w, h = fit_long_side(width, height, long_side)
    return round8(w), round8(h)


class _Progress:
    """Clamps to [0, 1] and never goes backwards (as in the classical backend)."""

    def __init__(self, callback: ProgressFn | None) -> None:
        self._callback = callback
        self._last = 0.0

    def __call__(self, fraction: float) -> None:
        fraction = min(1.0, max(self._last, fraction))
        self._last = fraction
        if self._callback is not None:
            self._callback(fraction)


_LIVE: weakref.WeakSet[DiffusionGenerator] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for generator in list(_LIVE):
        generator._lock = threading.Lock()  # a thread of the parent may have held it


os.register_at_fork(after_in_child=_after_fork_in_child)


class DiffusionGenerator:
    name = "diffusion"

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, device: str | None = None) -> None:
        """Cheap: checks the configuration and that the packages are installed; the model loads on first use."""
        raw_dir = os.fspath(model_dir) if model_dir is not None else os.environ.get(ENV_MODEL_DIR, "")
        if not raw_dir:
            raise GeneratorUnavailable(
                f"the diffusion backend needs {ENV_MODEL_DIR}: a local diffusers model folder (model_index.json)"
            )
        path = Path(raw_dir).expanduser()
        if not (path / "model_index.json").is_file():
            raise GeneratorUnavailable(
                f"{ENV_MODEL_DIR}={raw_dir!r} is not a diffusers model folder (no model_index.json there); "
                "the weights must be on disk: nothing is downloaded"
            )
        missing = [name for name in REQUIRED_PACKAGES if importlib.util.find_spec(name) is None]
        if missing:
            raise GeneratorUnavailable(f"the diffusion backend needs {', '.join(missing)}: {_GPU_INSTALL_HINT}")
        self.model_dir = path.resolve()
        self.device_name = device or os.environ.get(ENV_DEVICE) or None  # None: cuda if available, else cpu
        self._pipeline: Any = None
        self._loaded_pid: int | None = None
        self._device = "cpu"
        self._lock = threading.Lock()
        _LIVE.add(self)

    # ---- the model
    def load(self) -> Any:
        """Load the pipeline now (idempotent, thread-safe). Only in the process that will run the jobs."""
        with self._lock:
            return self._pipeline_locked()

    def _pipeline_locked(self) -> Any:
        if self._pipeline is not None:
            if self._loaded_pid != os.getpid():
                raise GeneratorUnavailable(
                    "the diffusion pipeline was loaded in a parent process before fork(); it cannot be used in "
                    "the child. Load it only in the process that runs the jobs (run GPU workers with --simple)."
                )
            return self._pipeline
        torch, diffusers = _import_stack()
        device = self.device_name or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            torch_device = torch.device(device)
        except RuntimeError as exc:
            raise GeneratorUnavailable(f"{ENV_DEVICE}={device!r} is not a torch device ({exc})") from None
        if torch_device.type == "cuda" and not torch.cuda.is_available():
            raise GeneratorUnavailable(
                f"{ENV_DEVICE}={device!r} but CUDA is not available (CPU build of torch, or no GPU visible)"
            )
        dtype = _dtype(torch, torch_device.type)
        try:
            pipe = diffusers.AutoPipelineForImage2Image.from_pretrained(
                str(self.model_dir), local_files_only=True, use_safetensors=True, dtype=dtype
            )
            pipe = pipe.to(torch_device)
        except Exception as exc:  # missing/corrupt component files, unsupported pipeline class, device errors
            raise GeneratorUnavailable(
                f"cannot load the diffusion model from {ENV_MODEL_DIR}={str(self.model_dir)!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        pipe.set_progress_bar_config(disable=True)
        self._pipeline, self._loaded_pid, self._device = pipe, os.getpid(), str(torch_device)
        return pipe

    # ---- generation
    def generate(self, request: GenerationRequest, progress: ProgressFn | None = None) -> list[Result]:
        if request.style.kind in DELEGATED_KINDS:
            return get_generator("classical").generate(request, progress)
        report = _Progress(progress)
        report(0.0)
        params = resolve_params(request.style, request.sources[0])
        src = decode_image(request.sources[0])
        _require_face(src)
        width, height = output_size(src.shape[1], src.shape[0], request.long_side or DEFAULT_IMAGE_LONG_SIDE)
        init = resize(src, (width, height))
        report(0.05)
        with self._lock:
            pipe = self._pipeline_locked()
            report(0.1)
            rgb = self._run(pipe, init, params, report)
        report(0.97)
        data, mime = encode_image(rgb, request.image_format, request.jpeg_quality)
        meta = {
            "backend": self.name,
            "seed": params.seed,
            "steps": params.denoising_steps,
            "strength": params.strength,
            "guidance_scale": params.guidance_scale,
            "device": self._device,
        }
        report(1.0)
        return [GeneratedImage(data=data, mime=mime, width=width, height=height, meta=meta)]

    def _run(self, pipe: Any, init: np.ndarray, params: DiffusionParams, report: _Progress) -> np.ndarray:
        torch, _ = _import_stack()
        from PIL import Image

        def on_step_end(pipeline: Any, step: int, timestep: Any, callback_kwargs: dict) -> dict:
            total = getattr(pipeline, "num_timesteps", None) or params.denoising_steps
            report(0.1 + 0.85 * (step + 1) / max(total, 1))
            return callback_kwargs

        out = pipe(
            prompt=params.prompt,
            negative_prompt=params.negative_prompt or None,
            image=Image.fromarray(init),
            strength=params.strength,
            guidance_scale=params.guidance_scale,
            num_inference_steps=params.steps,
            generator=torch.Generator("cpu").manual_seed(params.seed),  # same noise on any device
            output_type="np",
            callback_on_step_end=on_step_end,
        )
        if any(getattr(out, "nsfw_content_detected", None) or ()):
            raise ContentRejected("the result was rejected by the model's safety checker")
        images = np.asarray(out.images[0], dtype=np.float32)
        if not np.isfinite(images).all():
            raise GenerationError(
                f"the model produced NaNs ({self._device}); try {ENV_DTYPE}=float32 or bfloat16 for this model"
            )
        rgb = np.clip(images * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if rgb.shape[:2] != init.shape[:2]:  # a pipeline whose latent grid is coarser than 8 px
            rgb = resize(rgb, (init.shape[1], init.shape[0]))
        return np.ascontiguousarray(rgb)


def _require_face(rgb: np.ndarray) -> None:
    from .analysis import analyse_portrait

    small = resize(rgb, fit_long_side(rgb.shape[1], rgb.shape[0], min(ANALYSIS_LONG_SIDE, max(rgb.shape[:2]))))
    if analyse_portrait(small).main_face is None:
        raise NoFaceFound()


def _import_stack() -> tuple[Any, Any]:
    """torch and diffusers, imported offline (the hub libraries read these variables when first imported)."""
    os.environ.update(_OFFLINE_ENV)
    try:
        torch = importlib.import_module("torch")
        diffusers = importlib.import_module("diffusers")
    except ImportError as exc:
        raise GeneratorUnavailable(f"cannot import the diffusion packages ({exc}): {_GPU_INSTALL_HINT}") from exc
    for name in ("diffusers", "transformers"):  # no loading bars on the worker's stderr
        with contextlib.suppress(ImportError, AttributeError):
            importlib.import_module(f"{name}.utils.logging").disable_progress_bar()
    return torch, diffusers


def _dtype(torch: Any, device_type: str) -> Any:
    name = os.environ.get(ENV_DTYPE) or ("float16" if device_type == "cuda" else "float32")
    if name not in ("float16", "bfloat16", "float32"):
        raise GeneratorUnavailable(f"{ENV_DTYPE} must be float16, bfloat16 or float32, not {name!r}")
    return getattr(torch, name)
