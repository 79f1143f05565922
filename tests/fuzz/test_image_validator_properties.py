"""Property tests of the image validator (app/uploads/images.py): whatever bytes arrive, the answer is a
normalised image or a rejection with a known reason, never another exception, and a header that
claims a huge image is refused without decoding it.
"""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app.uploads.images import REASONS, ImageRejected, normalise
from tests.uploads.conftest import post_photo

pytestmark = pytest.mark.fuzz

MAX_PIXELS = 40_000_000
MIN_SIDE = 8
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def verdict(data: bytes) -> str:
    """"ok" or the rejection reason; any other exception fails the test."""
    try:
        result = normalise(data, max_pixels=MAX_PIXELS, min_side=MIN_SIDE)
    except ImageRejected as exc:
        assert exc.reason in REASONS and exc.user_message == REASONS[exc.reason]
        return exc.reason
    assert result.jpeg.startswith(b"\xff\xd8") and result.width >= MIN_SIDE and result.height >= MIN_SIDE
    return "ok"


@st.composite
def encoded_images(draw) -> bytes:
    """A real small image in an accepted format (and sometimes a refused one), from drawn pixels."""
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    mode = draw(st.sampled_from(["RGB", "RGBA", "L", "P", "CMYK", "LA", "I;16"]))
    fmt = draw(st.sampled_from(["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"]))
    seed = draw(st.binary(min_size=1, max_size=64))
    image = Image.frombytes("L", (width, height), (seed * (width * height // len(seed) + 1))[: width * height])
    try:
        image = image.convert(mode)
        out = io.BytesIO()
        image.save(out, format=fmt)
    except (OSError, ValueError, KeyError):  # this mode cannot be written in that format
        out = io.BytesIO()
        image.convert("RGB").save(out, format="PNG")
    return out.getvalue()


@SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_rejected_cleanly(data):
    assert verdict(data) in REASONS  # random bytes are never an image


@SETTINGS
@given(encoded_images(), st.data())
def test_truncated_images_are_rejected_or_decoded_never_crash(data, draw):
    cut = draw.draw(st.integers(0, max(0, len(data) - 1)))
    verdict(data[:cut])


@SETTINGS
@given(encoded_images(), st.data())
def test_corrupted_images_are_rejected_or_decoded_never_crash(data, draw):
    mutated = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 8))):
        position = draw.draw(st.integers(0, len(mutated) - 1))
        mutated[position] = draw.draw(st.integers(0, 255))
    verdict(bytes(mutated))


@SETTINGS
@given(encoded_images())
def test_whole_images_in_accepted_formats_pass(data):
    fmt = Image.open(io.BytesIO(data)).format
    result = verdict(data)
    if fmt in ("JPEG", "PNG", "WEBP"):
        assert result in ("ok", "too_small")
    else:
        assert result == "unsupported_format"  # sniffed from the bytes, not the name


def png_header_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def jpeg_header_claiming(width: int, height: int) -> bytes:
    small = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 80, 40)).save(small, format="JPEG")
    data = small.getvalue()
    sof = data.index(b"\xff\xc0")  # baseline SOF0: length(2) precision(1) height(2) width(2)
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9:]


@st.composite
def huge_dimensions(draw, limit: int) -> tuple[int, int]:
    """(width, height) whose product exceeds MAX_PIXELS, each side at most ``limit``."""
    width = draw(st.integers(MAX_PIXELS // limit + 1, limit))
    return width, draw(st.integers(MAX_PIXELS // width + 1, limit))


@SETTINGS
@given(huge_dimensions(2**31 - 1), st.sampled_from([png_header_claiming, jpeg_header_claiming]))
def test_huge_dimensions_in_the_header_are_refused_before_decoding(dimensions, header):
    width, height = dimensions
    if header is jpeg_header_claiming:
        width, height = min(width, 65535), min(height, 65535)  # JPEG sides are 16-bit
        if width * height <= MAX_PIXELS:
            width = height = 65535
    started = time.perf_counter()
    assert verdict(header(width, height)) == "too_many_pixels"
    assert time.perf_counter() - started < 1.0  # refused from the header: nothing was decoded at that size


@SETTINGS
@given(st.integers(1, 1024), st.integers(1, 1024), st.sampled_from([png_header_claiming, jpeg_header_claiming]))
def test_headers_that_lie_about_a_modest_size_are_rejected_or_decoded_never_crash(width, height, header):
    verdict(header(width, height))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.one_of(st.binary(max_size=512), encoded_images().map(lambda d: d[: len(d) // 2])))
def test_the_upload_endpoint_answers_invalid_image_not_500(uploader, data):
    response = post_photo(uploader, data)
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()["error"]
    assert body["code"] == "invalid_image" and body["details"]["reason"] in REASONS
