"""What the diffusion backend asks its model for each photo style: prompts, strength, guidance, steps and the seed.

Pure Python (no torch): the catalogue in ``styles.py`` stays the classical backend's, and the diffusion defaults per
style id live here. A style (or a request, through ``StyleSpec.with_params``) can override any of them with a
``diffusion`` sub-dict in its params, e.g. ``style.with_params(diffusion={"strength": 0.4, "steps": 20})``; keys:

- ``prompt`` / ``negative_prompt``: text (the negative prompt defaults to ``DEFAULT_NEGATIVE_PROMPT``);
- ``strength``: how far from the photo the result may go (0 < s <= 1; img2img noises the photo to this fraction of
  the schedule, so ``int(steps * strength)`` denoising steps actually run, at least one);
- ``guidance_scale``: classifier-free guidance (1 = off, 0-30);
- ``steps``: the scheduler's step count for the full schedule (1-150);
- ``seed``: a fixed seed (0 <= seed < 2**63) instead of the one derived from the style and the source photo.

Photo styles without defaults here (added to the catalogue later) get a generic prompt built from their English
name, so a new catalogue entry works on GPU workers before anyone tunes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .base import InvalidRequest, StyleSpec

DEFAULT_NEGATIVE_PROMPT = (
    "lowres, blurry, jpeg artifacts, deformed face, disfigured, bad anatomy, extra limbs, extra fingers, "
    "watermark, text, signature, nsfw"
)
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"negative_prompt": DEFAULT_NEGATIVE_PROMPT, "strength": 0.5, "guidance_scale": 7.0, "steps": 30}
)
_KEYS = frozenset({"prompt", "negative_prompt", "strength", "guidance_scale", "steps", "seed"})

# Per catalogue photo style: what differs from DEFAULTS. Written for Stable Diffusion 1.5 / 2.x style checkpoints
# (a 77-token CLIP prompt); an SDXL-class model takes the same prompts.
STYLE_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "anime": {
            "prompt": "anime style portrait of the person, cel shading, clean line art, vibrant colors, "
            "detailed eyes, soft painted background, anime key visual",
            "strength": 0.55,
        },
        "oil_painting": {
            "prompt": "oil painting portrait of the person, thick visible brush strokes, canvas texture, "
            "rich warm colors, classical fine art portrait",
            "strength": 0.5,
        },
        "pencil_sketch": {
            "prompt": "graphite pencil sketch portrait of the person, fine hatching and shading, monochrome, "
            "white paper, detailed fine art drawing",
            "negative_prompt": DEFAULT_NEGATIVE_PROMPT + ", color, colorful",
            "strength": 0.55,
        },
        "watercolor": {
            "prompt": "watercolor painting portrait of the person, soft washes, bleeding pigments, "
            "paper texture, light airy colors",
            "strength": 0.5,
        },
        "vintage_film": {
            "prompt": "vintage 1970s film photograph portrait, faded colors, film grain, soft warm light, analog photo",
            "strength": 0.3,
            "guidance_scale": 6.0,
        },
        "cyberpunk": {
            "prompt": "cyberpunk portrait of the person, neon lights, magenta and cyan glow, futuristic city at "
            "night, cinematic lighting",
            "strength": 0.55,
        },
        "pop_art": {
            "prompt": "pop art portrait of the person, bold flat colors, halftone dots, thick black outlines, "
            "screen print style",
            "strength": 0.6,
        },
    }
)


@dataclass(frozen=True)
class DiffusionParams:
    prompt: str
    negative_prompt: str
    strength: float
    guidance_scale: float
    steps: int
    seed: int

    @property
    def denoising_steps(self) -> int:
        """How many steps img2img really runs (diffusers skips the first ``steps * (1 - strength)``)."""
        return min(int(self.steps * self.strength), self.steps)


def derive_seed(style_id: str, source: bytes) -> int:
    """The same style and source photo always get the same seed (retried jobs give the same picture)."""
    digest = hashlib.sha256(b"miaohua-diffusion\0" + style_id.encode() + b"\0" + hashlib.sha256(source).digest())
    return int.from_bytes(digest.digest()[:8], "big") >> 1  # 63 bits: fits torch's manual_seed


def resolve_params(style: StyleSpec, source: bytes) -> DiffusionParams:
    """DEFAULTS <- STYLE_DEFAULTS[style.id] <- style.params["diffusion"], validated."""
    overrides = style.params.get("diffusion") or {}
    if not isinstance(overrides, Mapping):
        raise InvalidRequest("params['diffusion'] must be a mapping")
    unknown = set(overrides) - _KEYS
    if unknown:
        raise InvalidRequest(f"unknown diffusion params: {', '.join(sorted(unknown))}")
    merged: dict[str, Any] = {**DEFAULTS, **STYLE_DEFAULTS.get(style.id, {}), **overrides}
    if "prompt" not in merged:
        name = style.name_en or style.id.replace("_", " ")
        merged["prompt"] = f"{name} style portrait of the person, high quality, detailed"
    try:
        params = DiffusionParams(
            prompt=str(merged["prompt"]),
            negative_prompt=str(merged["negative_prompt"] or ""),
            strength=float(merged["strength"]),
            guidance_scale=float(merged["guidance_scale"]),
            steps=_as_int(merged["steps"]),
            seed=_as_int(merged["seed"]) if "seed" in merged else derive_seed(style.id, source),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"invalid diffusion params: {exc}") from None
    if not params.prompt.strip():
        raise InvalidRequest("the diffusion prompt is empty")
    if not 0.0 < params.strength <= 1.0:
        raise InvalidRequest("diffusion strength must be in (0, 1]")
    if not 0.0 <= params.guidance_scale <= 30.0:
        raise InvalidRequest("diffusion guidance_scale must be between 0 and 30")
    if not 1 <= params.steps <= 150:
        raise InvalidRequest("diffusion steps must be between 1 and 150")
    if params.denoising_steps < 1:
        raise InvalidRequest("diffusion steps * strength must be at least 1 (no denoising step would run)")
    if not 0 <= params.seed < 2**63:
        raise InvalidRequest("diffusion seed must be in [0, 2**63)")
    return params


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ValueError(f"{value!r} is not an integer")
    return int(value)
