"""AI-content labels (GB 45438-2025): the visible "AI生成" on every image, the signed metadata label in every file,
read back by exiftool as well as by our own reader, and ``flask aigc inspect``."""

import io
import json
import subprocess

import numpy as np
import pytest
from PIL import Image, ImageFont

from app.generation import aigc, previews
from tests.generation.aigc_support import TC260_NS, decode, exiftool_label, image_bytes, text_box
from workers.generators import aigc_label
from workers.generators.video import encode_h264, ffmpeg_exe

SIZES = [(295, 413), (413, 579), (1024, 1024), (1280, 720), (720, 1280), (256, 256)]


@pytest.fixture
def key(app) -> bytes:
    return app.config["AIGC_LABEL_KEY"].encode()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


@pytest.mark.parametrize("size", SIZES)
def test_the_hd_original_carries_the_visible_label_at_least_5_percent_high_in_a_corner(ctx, size):
    labelled, mime = previews.labelled_original(image_bytes(size), "r-size")
    assert mime == "image/png"  # PNG in, PNG out: lossless, so the measurement is exact
    rgb = decode(labelled)
    assert rgb.shape[:2] == (size[1], size[0])  # full resolution
    top, bottom, left, right = text_box(rgb)
    shortest = min(size)
    assert bottom - top >= 0.05 * shortest, (bottom - top, shortest)
    assert top > size[1] / 2 and left > size[0] / 2  # the bottom-right corner
    assert bottom <= size[1] and right <= size[0]


@pytest.mark.parametrize("size", [(295, 413), (1024, 1024), (1600, 900)])
def test_the_preview_carries_the_visible_label_too(ctx, size):
    preview, mime = previews.watermarked_preview(image_bytes(size, "JPEG"), "r-prev")
    assert mime == "image/jpeg"
    rgb = decode(preview)
    assert max(rgb.shape[:2]) <= previews.PREVIEW_LONG_SIDE
    top, bottom, left, _right = text_box(rgb)
    assert bottom - top >= 0.05 * min(rgb.shape[:2])
    assert top > rgb.shape[0] / 2 and left > rgb.shape[1] / 2


def test_the_label_reads_ai_generated_in_chinese():
    assert aigc_label.LABEL_TEXT == "AI生成"
    font = aigc_label.font_for(1024, 1024)
    assert "CJK SC" in font.getname()[0]


def test_a_font_without_chinese_glyphs_fails_loudly_instead_of_drawing_tofu(monkeypatch):
    latin_only = ImageFont.load_default(size=24)
    with pytest.raises(aigc_label.LabelFontMissing, match="no glyph"):
        aigc_label.check_glyphs(latin_only)
    aigc_label.font_path.cache_clear()
    monkeypatch.setitem(__import__("sys").modules, "noto_cjk_sans_otc", None)  # the package is not installed
    try:
        with pytest.raises(aigc_label.LabelFontMissing, match="noto-cjk-sans-otc"):
            aigc_label.font_path()
    finally:
        aigc_label.font_path.cache_clear()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_images_carry_the_signed_label_in_xmp_that_exiftool_reads(ctx, key, fmt):
    labelled, _ = previews.labelled_original(image_bytes((640, 480), fmt), "res-1")
    ours = aigc.read(labelled)
    assert exiftool_label(labelled) == ours
    assert ours["Label"] == "1" and ours["ProduceID"] == "res-1"
    assert ours["ContentProducer"] == ctx.config["AIGC_CONTENT_PRODUCER"]
    assert ours["ReservedCode1"].startswith("hmac-sha256:")
    assert set(ours) == set(aigc.FIELDS)
    with Image.open(io.BytesIO(labelled)) as image:  # Pillow (a third reader) sees one XMP packet, our namespace
        xmp = image.info["xmp"] if fmt == "JPEG" else image.info["XML:com.adobe.xmp"].encode()
    assert TC260_NS.encode() in xmp and b"TC260:AIGC" in xmp
    assert labelled.count(TC260_NS.encode()) == 1
    assert aigc.verify(labelled, key).ok


def test_the_integrity_code_proves_content_and_label_are_ours(ctx, key):
    labelled, _ = previews.labelled_original(image_bytes((400, 400)), "res-2")
    assert aigc.verify(labelled, key).producer_valid
    assert not aigc.verify(labelled, b"another server's key").producer_valid

    # the pixels changed (the label kept): refused
    rgb = decode(labelled).copy()
    rgb[10, 10] = (0, 0, 0)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    forged = aigc._embed(out.getvalue(), "png", aigc.read(labelled))
    assert aigc.read(forged) == aigc.read(labelled)
    assert not aigc.verify(forged, key).producer_valid

    # the label changed (another ProduceID): refused
    label = dict(aigc.read(labelled), ProduceID="someone-else")
    assert not aigc.verify(aigc._embed(aigc._strip(labelled, "png"), "png", label), key).producer_valid

    # no label at all
    assert aigc.verify(image_bytes((64, 64)), key).label is None


def test_the_propagator_fields_are_added_signed_and_the_file_keeps_one_label(ctx, key):
    preview, _ = previews.watermarked_preview(image_bytes((800, 600), "JPEG"), "res-3")
    shared = previews.for_propagation(preview, "res-3", "share-abc")
    label = aigc.read(shared)
    assert exiftool_label(shared) == label
    assert (label["ContentPropagator"], label["PropagateID"]) == (ctx.config["AIGC_CONTENT_PROPAGATOR"], "share-abc")
    assert label["ReservedCode2"].startswith("hmac-sha256:")
    assert label["ReservedCode1"] == aigc.read(preview)["ReservedCode1"]
    verdict = aigc.verify(shared, key)
    assert verdict.producer_valid and verdict.propagator_valid
    assert shared.count(TC260_NS.encode()) == 1  # one implicit label per file (the standard)
    assert np.array_equal(decode(shared), decode(preview))  # not re-encoded
    tampered = aigc._embed(aigc._strip(shared, "jpeg"), "jpeg", dict(label, PropagateID="share-other"))
    assert aigc.verify(tampered, key).propagator_valid is False


def test_a_file_stored_before_signed_labels_is_labelled_when_shared(ctx, key):
    old_preview = image_bytes((300, 300), "JPEG")  # what the old code stored: no XMP label
    shared = previews.for_propagation(old_preview, "res-old", "share-old")
    label = aigc.read(shared)
    assert (label["ProduceID"], label["PropagateID"]) == ("res-old", "share-old")
    assert aigc.verify(shared, key).ok


def _mp4(layout: str) -> bytes:
    frames = (np.full((96, 128, 3), 40 + 10 * i, np.uint8) for i in range(12))
    return encode_h264(frames, 128, 96, 12, layout=layout)


@pytest.mark.parametrize("layout", ["fragmented", "faststart"])
def test_videos_carry_the_signed_label_in_the_mp4_metadata(ctx, key, layout):
    labelled = previews.labelled_video(_mp4(layout), "res-v")
    ours = aigc.read(labelled)
    assert exiftool_label(labelled) == ours  # moov/udta/meta, key "AIGC"
    assert ours["ProduceID"] == "res-v" and aigc.verify(labelled, key).ok
    kinds = [kind for kind, _ in aigc._mp4_boxes(labelled)]
    assert (b"moof" in kinds) == (layout == "fragmented")
    if layout == "faststart":
        assert kinds.index(b"moov") < kinds.index(b"mdat")
    decoded = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "rgb24",
                              "pipe:1"], input=labelled, capture_output=True, check=True).stdout
    assert len(decoded) == 12 * 96 * 128 * 3  # still plays, every frame

    # other media data under the same label: refused
    mdat_at = labelled.index(b"mdat") + 4
    altered = labelled[:mdat_at + 40] + bytes([labelled[mdat_at + 40] ^ 0xFF]) + labelled[mdat_at + 41:]
    assert not aigc.verify(altered, key).producer_valid


def test_flask_aigc_inspect_reads_the_labels_and_verifies_them(ctx, tmp_path):
    good = tmp_path / "good.jpg"
    good.write_bytes(previews.for_propagation(previews.watermarked_preview(image_bytes((500, 500), "JPEG"),
                                                                            "res-cli")[0], "res-cli", "share-cli"))
    runner = ctx.test_cli_runner()
    shown = runner.invoke(args=["aigc", "inspect", str(good)])
    assert shown.exit_code == 0, shown.output
    assert "ProduceID: res-cli" in shown.output and "PropagateID: share-cli" in shown.output
    assert "ReservedCode1 (producer): valid" in shown.output and "ReservedCode2 (propagator): valid" in shown.output
    as_json = json.loads(runner.invoke(args=["aigc", "inspect", "--json", str(good)]).output)
    assert as_json["ok"] is True and as_json["label"]["Label"] == "1"

    real_key = ctx.config["AIGC_LABEL_KEY"]
    ctx.config["AIGC_LABEL_KEY"] = "a key this file was not signed with"
    try:
        refused = runner.invoke(args=["aigc", "inspect", str(good)])
    finally:
        ctx.config["AIGC_LABEL_KEY"] = real_key
    assert refused.exit_code == 1 and "INVALID" in refused.output

    unlabelled = tmp_path / "plain.png"
    unlabelled.write_bytes(image_bytes((64, 64)))
    missing = runner.invoke(args=["aigc", "inspect", str(unlabelled)])
    assert missing.exit_code == 1 and "no AIGC label" in missing.output

    text = tmp_path / "notes.txt"
    text.write_text("hello")
    unreadable = runner.invoke(args=["aigc", "inspect", str(text)])
    assert unreadable.exit_code == 2 and "not a JPEG, PNG or MP4" in unreadable.output


def test_the_policy_pages_explain_the_labels_to_the_user(client, app):
    page = client.get("/privacy/ai-labels")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for words in ("AI生成", "5%", "2 秒", "XMP", TC260_NS, "校验码", "GB 45438-2025"):
        assert words in text, words
    with app.app_context():
        from app.consent import policy

        policy.ensure_initial_version()
    privacy = client.get("/privacy").get_data(as_text=True)
    assert 'href="/privacy/ai-labels"' in privacy  # linked from every policy page
