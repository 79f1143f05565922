"""The classical (CPU) backend: every style's output kind and size, ID photo geometry and backgrounds, avatar
selection, determinism, errors and progress reporting."""

from __future__ import annotations

import io
import itertools
import struct

import pytest

from .support import png_bytes, require_models

require_models()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from workers.generators import (  # noqa: E402
    ID_BACKGROUNDS,
    GeneratedImage,
    GenerationRequest,
    InvalidImage,
    InvalidRequest,
    NoFaceFound,
    UnknownStyle,
    get_style,
    list_styles,
)
from workers.generators.analysis import analyse_portrait  # noqa: E402
from workers.generators.classical import ClassicalGenerator  # noqa: E402
from workers.generators.imaging import decode_image  # noqa: E402

PHOTO_STYLES = [s.id for s in list_styles("photo")]


def _png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return chunks


def _generate(generator, style, sources, **kwargs) -> GeneratedImage:
    [result] = generator.generate(GenerationRequest(style=style, sources=tuple(sources), **kwargs), None)
    assert isinstance(result, GeneratedImage)
    return result


@pytest.fixture(scope="module")
def photo_outputs(generator, portrait_bytes):
    """Every photo style at 512 px (the sample's own size keeps the suite fast)."""
    return {sid: _generate(generator, get_style(sid), [portrait_bytes], long_side=512) for sid in PHOTO_STYLES}


def test_get_generator_returns_the_classical_backend(generator):
    assert isinstance(generator, ClassicalGenerator)
    assert generator.name == "classical"


@pytest.mark.parametrize("style_id", PHOTO_STYLES)
def test_photo_style_outputs_a_clean_png_of_the_requested_size(photo_outputs, style_id):
    result = photo_outputs[style_id]
    assert result.mime == "image/png"
    assert (result.width, result.height) == (512, 512)
    assert _png_chunks(result.data) == [b"IHDR"] + [b"IDAT"] * (len(_png_chunks(result.data)) - 2) + [b"IEND"]
    assert decode_image(result.data).shape == (512, 512, 3)


def test_photo_styles_visibly_differ(photo_outputs, portrait_rgb):
    images = {sid: decode_image(r.data).astype(np.float32) for sid, r in photo_outputs.items()}
    images["original"] = portrait_rgb.astype(np.float32)
    for (a, ia), (b, ib) in itertools.combinations(images.items(), 2):
        diff = float(np.abs(ia - ib).mean())
        assert diff > 8.0, f"{a} and {b} look alike (mean abs difference {diff:.1f})"


def test_default_size_and_aspect_ratio(generator, portrait_bytes, portrait_rgb):
    result = _generate(generator, get_style("pop_art"), [portrait_bytes])
    assert (result.width, result.height) == (1024, 1024)
    landscape = png_bytes(portrait_rgb[64:448])  # 512x384
    result = _generate(generator, get_style("pencil_sketch"), [landscape], long_side=640)
    assert (result.width, result.height) == (640, 480)


def test_jpeg_output_has_no_exif(generator, portrait_bytes):
    result = _generate(generator, get_style("vintage_film"), [portrait_bytes], long_side=256, image_format="jpeg")
    assert result.mime == "image/jpeg" and result.data[:2] == b"\xff\xd8"
    assert b"Exif" not in result.data[:4096]
    assert Image.open(io.BytesIO(result.data)).size == (256, 256)


@pytest.mark.parametrize("style", list_styles("id_photo"), ids=lambda s: s.id)
def test_id_photo_exact_size_background_and_head(generator, portrait_bytes, style):
    result = _generate(generator, style, [portrait_bytes])
    width, height = style.params["size"]
    assert (result.width, result.height) == (width, height)
    rgb = decode_image(result.data)
    assert rgb.shape == (height, width, 3)
    colour = np.array(ID_BACKGROUNDS[style.params["background"]])
    for patch in (rgb[:8, :8], rgb[:8, -8:], rgb[: height // 3, :6], rgb[: height // 3, -6:]):
        assert np.abs(patch.astype(int) - colour).max() <= 2, "background colour not replaced in the corners"
    assert result.meta["head_fraction"] == pytest.approx(style.params["head_fraction"], abs=0.01)
    a = analyse_portrait(rgb)
    assert a.face_count == 1 and a.main_face is not None
    assert a.main_face.center[0] == pytest.approx(width / 2, abs=0.05 * width)  # centred on the face
    left, right = a.eye_centers()
    assert abs(float(left[1] - right[1])) < 0.01 * height  # eyes level


def test_passport_red_background_option(generator, portrait_bytes):
    style = get_style("id_passport").with_params(background="red")
    rgb = decode_image(_generate(generator, style, [portrait_bytes]).data)
    assert tuple(rgb[2, 2]) == ID_BACKGROUNDS["red"]
    assert tuple(rgb[2, -3]) == ID_BACKGROUNDS["red"]


def test_tilted_head_is_levelled(generator, portrait_rgb):
    h, w = portrait_rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 3), 12, 1.0)
    tilted = cv2.warpAffine(portrait_rgb, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    rgb = decode_image(_generate(generator, get_style("id_cn_1inch"), [png_bytes(tilted)]).data)
    left, right = analyse_portrait(rgb).eye_centers()
    assert abs(float(left[1] - right[1])) < 3


def test_avatar_picks_the_best_of_three(generator, portrait_rgb):
    blurred = cv2.GaussianBlur(portrait_rgb, (0, 0), 4)
    dark = (portrait_rgb * 0.3).astype(np.uint8)
    sources = [png_bytes(blurred), png_bytes(dark), png_bytes(portrait_rgb)]
    result = _generate(generator, get_style("avatar"), sources, long_side=512)
    assert (result.width, result.height) == (512, 512)
    assert result.meta["source_index"] == 2
    assert len(result.meta["scores"]) == 3
    a = analyse_portrait(decode_image(result.data))
    assert a.main_face is not None
    assert a.main_face.center[0] == pytest.approx(256, abs=40)
    assert a.face_fraction > 0.25  # a head-and-shoulders crop


def test_avatar_skips_photos_without_a_face(generator, portrait_bytes):
    gradient = png_bytes(np.tile(np.linspace(0, 255, 256, dtype=np.uint8)[None, :, None], (256, 1, 3)))
    result = _generate(generator, get_style("avatar"), [gradient, portrait_bytes, gradient], long_side=384)
    assert result.meta["source_index"] == 1
    assert result.meta["scores"][0] is None and result.meta["scores"][2] is None
    with pytest.raises(NoFaceFound):
        _generate(generator, get_style("avatar"), [gradient] * 3, long_side=384)


def test_same_request_same_bytes(generator, portrait_bytes, photo_outputs):
    again = _generate(generator, get_style("anime"), [portrait_bytes], long_side=512)
    assert again.data == photo_outputs["anime"].data
    first = _generate(generator, get_style("id_cn_2inch"), [portrait_bytes])
    assert _generate(generator, get_style("id_cn_2inch"), [portrait_bytes]).data == first.data


@pytest.mark.parametrize("style_id", ["anime", "id_passport", "living_photo"])
def test_no_face_is_a_clear_error(generator, style_id):
    noise = png_bytes(np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8))
    with pytest.raises(NoFaceFound) as info:
        generator.generate(GenerationRequest(style=get_style(style_id), sources=(noise,)), None)
    assert info.value.code == "no_face"


def test_bad_style_params_are_rejected(generator, portrait_bytes):
    def run(style, n=1):
        generator.generate(GenerationRequest(style=style, sources=(portrait_bytes,) * n), None)

    with pytest.raises(UnknownStyle, match="render_style"):
        run(get_style("avatar").with_params(render_style="id_passport"), 3)
    with pytest.raises(InvalidRequest, match="zoom"):
        run(get_style("living_photo").with_params(zoom=0.5))
    with pytest.raises(InvalidRequest, match="background"):
        run(get_style("id_passport").with_params(background="green"))
    with pytest.raises(UnknownStyle, match="renderer"):
        run(get_style("anime").with_params(renderer="nope"))


def test_undecodable_source_is_invalid_image(generator):
    with pytest.raises(InvalidImage):
        generator.generate(GenerationRequest(style=get_style("anime"), sources=(b"not an image",)), None)
    tiny = png_bytes(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(InvalidImage, match="too small"):
        generator.generate(GenerationRequest(style=get_style("anime"), sources=(tiny,)), None)


def test_exif_orientation_and_alpha_are_applied(portrait_rgb):
    im = Image.fromarray(portrait_rgb[:, :256])  # 256 wide, 512 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    assert decode_image(buf.getvalue()).shape == (256, 512, 3)
    rgba = Image.new("RGBA", (100, 100), (255, 0, 0, 0))
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    assert tuple(decode_image(buf.getvalue())[50, 50]) == (255, 255, 255)  # transparent -> white


def test_progress_is_reported_and_monotonic(generator, portrait_bytes):
    seen: list[float] = []
    generator.generate(
        GenerationRequest(style=get_style("oil_painting"), sources=(portrait_bytes,), long_side=256), seen.append
    )
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert len(seen) >= 4
    assert seen == sorted(seen)
