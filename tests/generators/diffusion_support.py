"""A tiny Stable Diffusion img2img model with random weights, built from configs and saved as a diffusers folder,
so the diffusion backend's real loading and inference code runs here without a GPU or downloaded weights.

Components (about 6.5 MB of safetensors): a 2-level UNet2DConditionModel (32/64 channels, cross-attention dim 32),
a 2-level AutoencoderKL, a 2-layer CLIPTextModel and a CLIPTokenizer made from a vocab and merges file written here
(single letters and one merge, so any lower-case prompt tokenizes), a DDIM scheduler with Stable Diffusion's betas.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.generators.support import skip_unless_importable

DIFFUSION_MODULES = ("torch", "diffusers", "transformers", "safetensors")


def require_diffusion_stack() -> None:
    """Skip the calling test (or fixture) unless torch and diffusers import."""
    skip_unless_importable(DIFFUSION_MODULES, "diffusion stack",
                           "pip install -r requirements-gpu.txt into the test environment")


def _write_tokenizer_files(folder: Path) -> None:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = ["<|startoftext|>", "<|endoftext|>", *letters, *(c + "</w>" for c in letters), "on</w>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\no n</w>\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77}))


def build_tiny_pipeline(folder: Path, tmp: Path) -> Path:
    """Build, save (``save_pretrained``) and return ``folder``: a loadable diffusers model folder."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=32,
    )
    token_dir = tmp / "tokenizer-source"
    _write_tokenizer_files(token_dir)
    tokenizer = CLIPTokenizer.from_pretrained(str(token_dir), local_files_only=True)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionImg2ImgPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder
