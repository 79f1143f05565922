"""The diffusion (GPU) backend, run for real on the CPU against a tiny random-weight Stable Diffusion img2img model
saved to a temp folder (``diffusion_support.build_tiny_pipeline``): loading with ``local_files_only``, outputs,
determinism, progress, no network, errors, delegation of ID photos to the classical backend.

Tests that need torch/diffusers (requirements-gpu.txt) skip with the reason when those are missing; the
configuration, parameter and error tests above them run with the classical stack alone.
"""

from __future__ import annotations

import io
import shutil
import socket
import threading

import pytest

from .support import require_models

require_models()

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from workers.generators import (  # noqa: E402
    GeneratedImage,
    GenerationRequest,
    GeneratorUnavailable,
    InvalidRequest,
    NoFaceFound,
    available_generators,
    get_generator,
    get_style,
    list_styles,
)
from workers.generators import base as base_module  # noqa: E402
from workers.generators import diffusion as diffusion_module  # noqa: E402
from workers.generators.diffusion import ContentRejected, DiffusionGenerator, output_size, round8  # noqa: E402
from workers.generators.diffusion_styles import STYLE_DEFAULTS, derive_seed, resolve_params  # noqa: E402

from .diffusion_support import build_tiny_pipeline, require_diffusion_stack  # noqa: E402

pytestmark = pytest.mark.diffusion

FAST = {"steps": 4, "strength": 0.5}  # 2 denoising steps


def _request(source: bytes, style_id: str = "anime", long_side: int = 64, **kwargs) -> GenerationRequest:
    diffusion = {**FAST, **kwargs.pop("diffusion", {})}
    style = get_style(style_id).with_params(diffusion=diffusion)
    return GenerationRequest(style=style, sources=(source,), long_side=long_side, **kwargs)


@pytest.fixture
def registry(monkeypatch):
    """An isolated registry: instances created here do not leak into other tests."""
    monkeypatch.setattr(base_module, "_INSTANCES", {})
    return base_module


@pytest.fixture
def fake_model_dir(tmp_path):
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    return tmp_path


# ---- configuration and parameters (no torch needed)
def test_the_backend_is_registered():
    assert "diffusion" in available_generators()
    assert base_module._FACTORIES["diffusion"] == "workers.generators.diffusion:DiffusionGenerator"


def test_missing_model_dir_is_a_clear_error(registry, monkeypatch, tmp_path):
    monkeypatch.delenv("DIFFUSION_MODEL_DIR", raising=False)
    with pytest.raises(GeneratorUnavailable, match="needs DIFFUSION_MODEL_DIR") as info:
        get_generator("diffusion")
    assert info.value.code == "generator_unavailable"
    monkeypatch.setenv("DIFFUSION_MODEL_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(GeneratorUnavailable, match=r"DIFFUSION_MODEL_DIR=.*nowhere.*no model_index\.json"):
        get_generator("diffusion")
    assert "diffusion" not in registry._INSTANCES


def test_missing_packages_name_requirements_gpu(monkeypatch, fake_model_dir):
    real_find_spec = diffusion_module.importlib.util.find_spec
    monkeypatch.setattr(
        diffusion_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("torch", "diffusers") else real_find_spec(name, *a),
    )
    with pytest.raises(GeneratorUnavailable, match=r"needs torch, diffusers.*: install requirements-gpu\.txt"):
        DiffusionGenerator(fake_model_dir)


def test_every_photo_style_has_tuned_defaults_and_overrides_apply():
    photo_ids = {s.id for s in list_styles("photo")}
    assert photo_ids <= set(STYLE_DEFAULTS)
    for style in list_styles():
        assert "diffusion" not in style.params  # the catalogue (classical behaviour) is untouched
    anime = get_style("anime")
    params = resolve_params(anime, b"photo")
    assert "anime" in params.prompt and params.steps == 30 and params.strength == 0.55
    tuned = resolve_params(anime.with_params(diffusion={"strength": 0.4, "steps": 20, "prompt": "x"}), b"photo")
    assert (tuned.prompt, tuned.strength, tuned.steps, tuned.denoising_steps) == ("x", 0.4, 20, 8)
    assert tuned.negative_prompt == params.negative_prompt
    assert resolve_params(anime.with_params(diffusion={"seed": 7}), b"photo").seed == 7
    newcomer = anime.__class__("new_style", "photo", {"renderer": "anime"}, name_en="Ink wash")
    assert resolve_params(newcomer, b"photo").prompt.startswith("Ink wash style portrait")


@pytest.mark.parametrize(
    ("diffusion", "message"),
    [
        ({"strength": 0}, "strength"),
        ({"strength": 1.5}, "strength"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "integer"),
        ({"steps": 1, "strength": 0.5}, "at least 1"),
        ({"guidance_scale": 99}, "guidance"),
        ({"prompt": "  "}, "empty"),
        ({"seed": -1}, "seed"),
        ({"sampler": "euler"}, "unknown diffusion params: sampler"),
    ],
)
def test_invalid_diffusion_params_are_rejected(diffusion, message):
    with pytest.raises(InvalidRequest, match=message):
        resolve_params(get_style("anime").with_params(diffusion=diffusion), b"photo")


def test_seed_is_fixed_per_style_and_source():
    assert derive_seed("anime", b"a") == derive_seed("anime", b"a")
    assert len({derive_seed("anime", b"a"), derive_seed("anime", b"b"), derive_seed("oil_painting", b"a")}) == 3
    assert 0 <= derive_seed("anime", b"a") < 2**63


def test_output_size_is_the_long_side_in_multiples_of_8():
    assert output_size(512, 512, 64) == (64, 64)
    assert output_size(512, 384, 100) == (104, 72)  # 100x75 rounded to the nearest multiples of 8
    assert output_size(3024, 4032, 1024) == (768, 1024)
    assert round8(3) == 64
    assert all(v % 8 == 0 for v in output_size(1000, 617, 999))


# ---- the real pipeline, on the CPU
@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    require_diffusion_stack()
    import torch

    # one intra-op thread: the tiny model gains nothing from two, and OpenMP threads spinning against other
    # processes on a busy 2-core CI machine made single 2-step runs take seconds instead of ~0.2 s
    torch.set_num_threads(1)
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "model", tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def gen(model_dir):
    return DiffusionGenerator(model_dir, device="cpu")


@pytest.fixture(scope="module")
def landscape_bytes(portrait_rgb):
    buf = io.BytesIO()
    Image.fromarray(portrait_rgb[64:448]).save(buf, "PNG")  # 512x384
    return buf.getvalue()


def _decode(result: GeneratedImage) -> np.ndarray:
    with Image.open(io.BytesIO(result.data)) as im:
        assert im.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[result.mime]
        return np.asarray(im.convert("RGB"))


def test_photo_is_a_valid_image_of_the_requested_size(gen, portrait_bytes, landscape_bytes):
    [square] = gen.generate(_request(portrait_bytes), None)
    assert isinstance(square, GeneratedImage) and square.mime == "image/png"
    assert (square.width, square.height) == (64, 64)
    assert _decode(square).shape == (64, 64, 3)
    assert square.meta["backend"] == "diffusion" and square.meta["steps"] == 2 and square.meta["device"] == "cpu"
    assert square.meta["seed"] == derive_seed("anime", portrait_bytes)
    [wide] = gen.generate(_request(landscape_bytes, long_side=100, image_format="jpeg"), None)
    assert (wide.width, wide.height) == (104, 72) and wide.mime == "image/jpeg"
    assert _decode(wide).shape == (72, 104, 3)


def test_same_request_same_bytes_other_seed_other_picture(gen, portrait_bytes):
    first = gen.generate(_request(portrait_bytes), None)[0]
    again = gen.generate(_request(portrait_bytes), None)[0]
    assert first.data == again.data
    other = gen.generate(_request(portrait_bytes, diffusion={"seed": 12345}), None)[0]
    assert float(np.abs(_decode(first).astype(np.float32) - _decode(other)).mean()) > 1.0


def test_progress_follows_the_denoising_steps(gen, portrait_bytes):
    seen: list[float] = []
    gen.generate(_request(portrait_bytes, diffusion={"steps": 6}), seen.append)  # 3 denoising steps
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)
    assert len([f for f in seen if 0.1 < f <= 0.95]) == 3  # one report per step


def test_an_exception_from_progress_aborts_and_releases_the_model(gen, portrait_bytes):
    class Cancelled(Exception):
        pass

    def cancel_at_step(fraction: float) -> None:
        if fraction > 0.1:
            raise Cancelled()

    with pytest.raises(Cancelled):
        gen.generate(_request(portrait_bytes), cancel_at_step)
    assert len(gen.generate(_request(portrait_bytes), None)) == 1  # the lock was released


def test_loads_once_and_serves_threads(model_dir, portrait_bytes, monkeypatch):
    import diffusers

    calls = []
    original = diffusers.AutoPipelineForImage2Image.from_pretrained

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(diffusers.AutoPipelineForImage2Image, "from_pretrained", counting)
    fresh = DiffusionGenerator(model_dir, device="cpu")
    results: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: results.append(fresh.generate(_request(portrait_bytes), None)[0].data))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and calls[0]["local_files_only"] is True
    assert len(results) == 3 and len(set(results)) == 1


def test_no_network_is_touched(model_dir, portrait_bytes, monkeypatch):
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted in a test")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(OSError, match="network access attempted"):  # the guard works
        socket.create_connection(("127.0.0.1", 9))
    attempts.clear()
    fresh = DiffusionGenerator(model_dir, device="cpu")
    [result] = fresh.generate(_request(portrait_bytes), None)  # loads the model and runs it
    assert (result.width, result.height) == (64, 64)
    assert attempts == []
    assert diffusion_module.os.environ["HF_HUB_OFFLINE"] == "1"


def test_id_photos_are_delegated_to_the_classical_backend(model_dir, portrait_bytes):
    fresh = DiffusionGenerator(model_dir, device="cpu")
    request = GenerationRequest(style=get_style("id_cn_1inch"), sources=(portrait_bytes,))
    seen: list[float] = []
    [delegated] = fresh.generate(request, seen.append)
    [classical] = get_generator("classical").generate(request, None)
    assert (delegated.width, delegated.height) == (295, 413)
    assert delegated.data == classical.data
    assert seen[-1] == 1.0
    assert fresh._pipeline is None  # the diffusion model was not even loaded


def test_a_photo_without_a_face_is_refused_before_loading(model_dir):
    fresh = DiffusionGenerator(model_dir, device="cpu")
    buf = io.BytesIO()
    Image.fromarray(np.tile(np.linspace(0, 255, 256, dtype=np.uint8), (256, 1))).convert("RGB").save(buf, "PNG")
    with pytest.raises(NoFaceFound):
        fresh.generate(_request(buf.getvalue()), None)
    assert fresh._pipeline is None


def test_an_incomplete_model_folder_is_a_clear_error(model_dir, portrait_bytes, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    shutil.rmtree(broken / "unet")
    fresh = DiffusionGenerator(broken, device="cpu")
    with pytest.raises(GeneratorUnavailable, match=r"cannot load the diffusion model from DIFFUSION_MODEL_DIR="):
        fresh.generate(_request(portrait_bytes), None)


def test_unavailable_device_is_a_clear_error(model_dir, portrait_bytes):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    with pytest.raises(GeneratorUnavailable, match="CUDA is not available"):
        DiffusionGenerator(model_dir, device="cuda").load()


def test_get_generator_uses_the_environment(registry, model_dir, monkeypatch):
    monkeypatch.setenv("DIFFUSION_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("DIFFUSION_DEVICE", "cpu")
    generator = get_generator("diffusion")
    assert isinstance(generator, DiffusionGenerator) and generator.name == "diffusion"
    assert isinstance(generator, base_module.Generator)
    assert generator.model_dir == model_dir.resolve() and generator.device_name == "cpu"


def test_a_pipeline_loaded_before_fork_is_refused_in_the_child(model_dir, portrait_bytes, monkeypatch):
    fresh = DiffusionGenerator(model_dir, device="cpu")
    fresh.load()
    monkeypatch.setattr(fresh, "_loaded_pid", -1)  # as seen from a forked child (no real fork with torch loaded)
    with pytest.raises(GeneratorUnavailable, match="before fork"):
        fresh.generate(_request(portrait_bytes), None)


def test_a_result_flagged_by_a_safety_checker_is_rejected(model_dir, portrait_bytes):
    fresh = DiffusionGenerator(model_dir, device="cpu")
    pipe = fresh.load()
    pipe.run_safety_checker = lambda image, device, dtype: (image, [True])
    with pytest.raises(ContentRejected) as info:
        fresh.generate(_request(portrait_bytes), None)
    assert info.value.code == "content_rejected"
