"""Likeness check: geometric (face-mesh landmarks, no identity model), calibrated on the sample portrait."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from app.generation import likeness
from app.generation.models import GenerationResult
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.uploads import images
from workers.generators import (
    GeneratedImage,
    GeneratedVideo,
    GenerationError,
    GenerationRequest,
    get_generator,
    get_style,
    list_styles,
    register_generator,
)

PHOTO_STYLES = [s.id for s in list_styles("photo")]


def squashed(data: bytes, factor: float = 0.85) -> bytes:
    """The portrait squeezed horizontally: the same pixels, a differently proportioned face."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return images.encode(image.resize((round(image.width * factor), image.height), Image.Resampling.LANCZOS))


def another_face() -> bytes | None:
    """Grace Hopper's portrait, shipped with matplotlib (a mediapipe dependency) as sample data."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return path.read_bytes() if path.exists() else None


def generate(style_id: str, *sources: bytes):
    style = get_style(style_id)
    request = GenerationRequest(style=style, sources=sources if style.kind != "avatar" else sources * 3,
                                image_format="jpeg")
    return request, get_generator("classical").generate(request, None)


@pytest.fixture(scope="module")
def sample() -> bytes:
    return images.encode(images.portrait())


@pytest.fixture(scope="module")
def styled(sample) -> dict:
    """Every classical photo style and the avatar, rendered once from the sample portrait."""
    return {style: generate(style, sample)[1][0] for style in [*PHOTO_STYLES, "avatar"]}


@pytest.fixture(scope="module")
def warped_anime(sample):
    """(a request for the sample, the anime rendering of the squashed sample): a result that lost the likeness."""
    request, warped = generate("anime", squashed(sample))
    return replace(request, sources=(sample,)), warped


def score(source: bytes, result: bytes) -> tuple[float | None, str]:
    return likeness.compare([likeness.decode(source)], likeness.decode(result))


# ---- geometry ---------------------------------------------------------------------------------------------------


def test_normalisation_removes_position_rotation_and_scale_but_not_proportions():
    rng = np.random.default_rng(7)
    face = rng.uniform(100, 300, size=(478, 2))
    angle = np.radians(17)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (face @ rotation.T) * 2.5 + np.array([40.0, -12.0])
    assert likeness.distance(likeness.normalise(face), likeness.normalise(moved)) < 1e-9
    assert likeness.similarity(likeness.normalise(face), likeness.normalise(moved)) == pytest.approx(1.0)
    stretched = face * np.array([1.0, 1.2])  # anisotropic: a different face shape
    assert likeness.similarity(likeness.normalise(face), likeness.normalise(stretched)) < likeness.DEFAULT_THRESHOLD


def test_score_scale():
    assert likeness.score_of(0.0) == 1.0
    assert likeness.score_of(likeness.SCORE_SCALE_IOD) == pytest.approx(0.5)
    assert likeness.score_of(1.0) < 0.01


# ---- calibration on the sample ----------------------------------------------------------------------------------


@pytest.mark.parametrize("style", [*PHOTO_STYLES, "avatar"])
def test_every_classical_style_of_the_sample_passes(sample, styled, style):
    value, reason = score(sample, styled[style].data)
    assert reason == "checked"
    assert value >= likeness.DEFAULT_THRESHOLD, f"{style}: {value:.3f}"


@pytest.mark.parametrize("style", ["anime", "oil_painting", "pop_art", "cyberpunk"])
def test_a_result_made_from_a_warped_face_fails(sample, style):
    _, [result] = generate(style, squashed(sample))
    value, reason = score(sample, result.data)
    assert reason == "checked"
    assert value < likeness.DEFAULT_THRESHOLD, f"{style}: {value:.3f}"


@pytest.mark.parametrize("style", ["anime", "watercolor", "pop_art"])
def test_a_result_showing_another_person_fails(sample, style):
    other = another_face()
    if other is None:
        pytest.skip("matplotlib's sample portrait is not installed")
    _, [result] = generate(style, other)
    value, _ = score(sample, result.data)
    assert value < likeness.DEFAULT_THRESHOLD, f"{style}: {value:.3f}"


def test_a_result_without_a_face_scores_zero(sample):
    assert score(sample, images.no_face()) == (0.0, "no_face_in_result")


# ---- the job step: skip, retry, flag ----------------------------------------------------------------------------


class Recording:
    """A backend double: returns the outputs it is given, in turn, and counts calls."""

    name = "recording"

    def __init__(self, *batches, retry: bool = False) -> None:
        self.batches = list(batches)
        self.requests: list[GenerationRequest] = []
        if retry:
            self.likeness_retry = lambda request, attempt: replace(request, long_side=512 + attempt)

    def generate(self, request, progress):
        self.requests.append(request)
        batch = self.batches.pop(0)
        if isinstance(batch, Exception):
            raise batch
        return batch


def test_id_photos_and_videos_are_not_checked(sample):
    for style, output in (("id_cn_1inch", GeneratedImage(sample, "image/jpeg", 512, 512)),
                          ("living_photo", GeneratedVideo(b"mp4", "video/mp4", 720, 720, 60, 24.0))):
        request = GenerationRequest(style=get_style(style), sources=(sample,))
        outputs = [output]
        kept, verdicts = likeness.review(Recording(), request, outputs)
        assert kept == outputs
        assert verdicts == [likeness.Verdict(None, False, "skipped_kind")]


def test_a_deterministic_backend_is_not_asked_again_and_the_result_is_flagged(sample, warped_anime):
    request, warped = warped_anime
    backend = Recording(warped)  # no way to vary its output, like the classical backend
    kept, [verdict] = likeness.review(backend, request, warped)
    assert len(backend.requests) == 0 and kept == warped
    assert verdict.flagged and verdict.score < likeness.DEFAULT_THRESHOLD and verdict.attempts == 1
    assert likeness.retry_request(get_generator("classical"), request, 1) is None


def test_a_backend_that_can_vary_is_asked_once_more_and_the_better_result_kept(styled, warped_anime):
    request, warped = warped_anime
    faithful = [styled["anime"]]
    backend = Recording(faithful, retry=True)
    kept, [verdict] = likeness.review(backend, request, warped)
    assert [r.long_side for r in backend.requests] == [513]  # the backend's own retry request
    assert kept == faithful
    assert not verdict.flagged and verdict.score >= likeness.DEFAULT_THRESHOLD and verdict.attempts == 2


def test_still_unlike_after_the_retry_the_result_is_kept_and_flagged(sample, warped_anime):
    request, warped = warped_anime
    _, worse = generate("anime", squashed(sample, 0.7))
    backend = Recording(worse, retry=True)
    kept, [verdict] = likeness.review(backend, request, warped)
    assert kept == warped  # the better of the two
    assert verdict.flagged and verdict.attempts == 2


def test_a_failed_retry_keeps_the_first_result_flagged(warped_anime):
    request, warped = warped_anime
    backend = Recording(GenerationError("the model could not render this photo"), retry=True)
    kept, [verdict] = likeness.review(backend, request, warped)
    assert kept == warped and len(backend.requests) == 1
    assert verdict.flagged and verdict.score is not None and verdict.attempts == 2


def test_the_diffusion_backend_retries_photo_styles_with_another_seed_and_less_strength(sample):
    class Diffusion:
        name = "diffusion"

    photo = GenerationRequest(style=get_style("anime"), sources=(sample,))
    retry = likeness.retry_request(Diffusion(), photo, 1)
    overrides = retry.style.params["diffusion"]
    assert isinstance(overrides["seed"], int) and 0 <= overrides["seed"] < 2**63
    assert likeness.retry_request(Diffusion(), photo, 2).style.params["diffusion"]["seed"] != overrides["seed"]
    try:
        from workers.generators.diffusion_styles import resolve_params
    except ImportError:
        pass
    else:
        assert overrides["strength"] < resolve_params(photo.style, sample).strength
        assert resolve_params(retry.style, sample).seed == overrides["seed"]
    avatar = GenerationRequest(style=get_style("avatar"), sources=(sample,) * 3)
    assert likeness.retry_request(Diffusion(), avatar, 1) is None  # delegated to the classical backend


def test_a_broken_check_keeps_the_results_unchecked(sample, monkeypatch):
    request, outputs = generate("pop_art", sample)
    monkeypatch.setattr(likeness, "compare", lambda *a: 1 / 0)
    kept, verdicts = likeness.review_job(Recording(), request, outputs, {})
    assert kept == outputs and verdicts == [likeness.Verdict(None, False, "check_failed")]
    kept, verdicts = likeness.review_job(Recording(), request, outputs, {"LIKENESS_CHECK_ENABLED": False})
    assert verdicts == [likeness.Verdict(None, False, "disabled")]


# ---- end to end -------------------------------------------------------------------------------------------------


class Warping:
    """A backend that changes the person's face (renders a squashed copy of the photo)."""

    name = "warping"

    def generate(self, request, progress):
        return get_generator("classical").generate(replace(request, sources=(squashed(request.sources[0]),)),
                                                   progress)


@pytest.fixture
def warping(app):
    register_generator("warping", Warping)
    app.config["GENERATION_BACKEND"] = "warping"
    yield
    app.config["GENERATION_BACKEND"] = "classical"


def results(dbx) -> list[GenerationResult]:
    return dbx.run(lambda s: list(s.scalars(select(GenerationResult).order_by(GenerationResult.id))))


def test_job_results_carry_their_likeness(uploader, sample_jpeg, app, dbx):
    photo = start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]
    id_photo = start_job(uploader, "id_cn_2inch", upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    for job in (photo, id_photo):
        assert uploader.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]["status"] == "succeeded"
    styled, cropped = results(dbx)
    assert styled.likeness_score >= likeness.DEFAULT_THRESHOLD and styled.likeness_flagged is False
    assert cropped.likeness_score is None and cropped.likeness_flagged is False


def test_an_unlike_result_is_kept_and_flagged(uploader, sample_jpeg, app, dbx, warping):
    created = start_job(uploader, "anime", upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    job = uploader.get(f"/api/v1/jobs/{created['id']}").get_json()["data"]
    assert job["status"] == "succeeded" and len(job["results"]) == 1
    [result] = results(dbx)
    assert result.likeness_flagged is True and result.likeness_score < likeness.DEFAULT_THRESHOLD


def test_the_threshold_comes_from_the_config(uploader, sample_jpeg, app, dbx, warping):
    app.config["LIKENESS_THRESHOLD"] = 0.01
    try:
        start_job(uploader, "anime", upload_ids(uploader, sample_jpeg))
        run_generation_queue(app)
    finally:
        del app.config["LIKENESS_THRESHOLD"]
    [result] = results(dbx)
    assert result.likeness_flagged is False and result.likeness_score is not None
