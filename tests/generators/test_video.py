"""The video style: a browser-playable H.264 MP4, encoded through pipes."""

from __future__ import annotations

import re
import struct
import subprocess
import tempfile

import pytest

from .support import require_models

require_models()

import numpy as np  # noqa: E402

from workers.generators import GeneratedVideo, GenerationRequest, get_style  # noqa: E402
from workers.generators.video import ffmpeg_exe  # noqa: E402

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex"}


def _boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, payload end) of ISO BMFF boxes in data[start:end]."""
    pos, end = start, len(data) if end is None else end
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        elif size == 0:
            size = end - pos
        yield kind, pos + header, pos + size
        pos += size


def _find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None):
    for kind, s, e in _boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return s, e
            if kind == b"stsd":  # full box header + entry count, then sample entries
                return _find(data, path[1:], s + 8, e)
            if kind == b"avc1":  # 78 bytes of visual sample entry fields before the child boxes
                return _find(data, path[1:], s + 78, e)
            if kind in CONTAINERS:
                found = _find(data, path[1:], s, e)
                if found:
                    return found
    return None


def _decode(data: bytes) -> tuple[bytes, str]:
    proc = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        input=data,
        capture_output=True,
        check=True,
    )
    return proc.stdout, proc.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def clip(generator, portrait_bytes, tmp_path_factory) -> GeneratedVideo:
    """The video at 360 px, generated in an empty working and temp directory that must stay empty."""
    work = tmp_path_factory.mktemp("video-cwd")
    mp = pytest.MonkeyPatch()
    try:
        mp.chdir(work)
        mp.setattr(tempfile, "tempdir", str(work))
        progress: list[float] = []
        [result] = generator.generate(
            GenerationRequest(style=get_style("living_photo"), sources=(portrait_bytes,), long_side=360),
            progress.append,
        )
    finally:
        mp.undo()
    assert list(work.iterdir()) == [], "the video pipeline wrote files"
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert isinstance(result, GeneratedVideo)
    return result


def test_mp4_layout_and_h264_high_profile(clip):
    data = clip.data
    assert clip.mime == "video/mp4"
    assert data[4:8] == b"ftyp"
    avcc = _find(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1", b"avcC"])
    assert avcc is not None, "no avcC box: not H.264"
    version, profile = data[avcc[0]], data[avcc[0] + 1]
    assert version == 1 and profile == 100  # AVCDecoderConfigurationRecord, High profile
    assert b"x264 - core" not in data and b"Lavf" not in data  # no encoder settings/version strings


def test_decodes_to_the_expected_frames(clip):
    assert (clip.width, clip.height) == (360, 360)
    assert clip.width % 2 == 0 and clip.height % 2 == 0
    assert clip.fps == 24 and clip.frame_count == 60
    assert 2.0 <= clip.duration_s <= 3.0
    raw, probe = _decode(clip.data)
    assert re.search(r"Video: h264 \(High\).*yuv420p.*360x360", probe), probe
    assert len(raw) == clip.frame_count * 360 * 360 * 3
    frames = np.frombuffer(raw, np.uint8).reshape(clip.frame_count, 360, 360, 3)
    # it moves: the zoom and the cross-fade change the picture
    assert np.abs(frames[0].astype(np.int16) - frames[-1].astype(np.int16)).mean() > 10


def test_video_is_deterministic(generator, portrait_bytes, clip):
    [again] = generator.generate(
        GenerationRequest(style=get_style("living_photo"), sources=(portrait_bytes,), long_side=360), None
    )
    assert again.data == clip.data


def test_faststart_layout_puts_the_index_first(generator, portrait_bytes):
    style = get_style("living_photo").with_params(layout="faststart", seconds=1.0)
    [result] = generator.generate(GenerationRequest(style=style, sources=(portrait_bytes,), long_side=240), None)
    kinds = [kind for kind, _, _ in _boxes(result.data)]
    assert kinds[0] == b"ftyp" and kinds.index(b"moov") < kinds.index(b"mdat")
    raw, _ = _decode(result.data)
    assert len(raw) == 24 * 240 * 240 * 3


def test_every_frame_carries_the_visible_ai_label(clip):
    """GB 45438-2025: the label on the opening frames for at least 2 s; here it is on every frame, its text at
    least 5 % of the shortest side high, inside a dark plate in the bottom-right corner."""
    from workers.generators.aigc_label import stamp_for

    raw, _ = _decode(clip.data)
    frames = np.frombuffer(raw, np.uint8).reshape(clip.frame_count, clip.height, clip.width, 3)
    stamp = stamp_for(clip.width, clip.height)
    ph, pw = stamp.patch.shape[:2]
    assert stamp.y > clip.height / 2 and stamp.x > clip.width / 2  # a corner
    text = np.all(stamp.patch[..., :3] == 255, axis=2)  # where the label's white text is fully drawn
    assert clip.frame_count / clip.fps >= 2.0
    for index, frame in enumerate(frames):
        plate = frame[stamp.y : stamp.y + ph, stamp.x : stamp.x + pw].astype(int)
        bright = np.all(plate >= 180, axis=2)  # under the plate only the label's text can be this bright
        assert bright[text].mean() > 0.9, f"frame {index}: the label's text is not there"
        rows = np.flatnonzero(bright.any(axis=1))
        assert rows[-1] + 1 - rows[0] >= 0.05 * min(clip.width, clip.height), f"frame {index}: label too small"
