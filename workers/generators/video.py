"""H.264 MP4 encoding with the ffmpeg binary bundled in imageio-ffmpeg, without writing source frames to disk.

Frames go to ffmpeg's stdin as raw RGB; by default the MP4 comes back on its stdout, so nothing touches the disk.
An MP4 written to a pipe must be *fragmented* (``-movflags frag_keyframe+empty_moov``): the classic layout needs
ffmpeg to seek back and write the ``moov`` index after the media data. With a single GOP the file is ``ftyp``,
an empty ``moov``, then one ``moof``+``mdat`` pair: browsers (``<video src>``, and MSE thanks to
``default_base_moof``) play it. For players that insist on a classic progressive MP4, ``layout="faststart"``
has ffmpeg write to an anonymous memory file (``memfd_create``, handed to ffmpeg as ``/dev/fd/N``): it is
seekable, so ffmpeg can move the index to the front, and it lives in RAM only. No layout writes a disk file
(README: a user's face is never written to disk in plain text).

Output is deterministic and metadata-free: ``-map_metadata -1``, bitexact muxing (no encoder version string) and
the x264 SEI (its settings string) stripped with the ``filter_units`` bitstream filter.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterable
from typing import IO

import numpy as np

MP4_LAYOUTS = ("fragmented", "faststart")


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _drain(stream: IO[bytes], sink: list[bytes]) -> None:
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        sink.append(chunk)


def encode_h264(
    frames: Iterable[np.ndarray],
    width: int,
    height: int,
    fps: float,
    *,
    layout: str = "fragmented",
    crf: int = 20,
    on_frame: Callable[[int], None] | None = None,
) -> bytes:
    """Encode RGB uint8 frames (height x width x 3, even sizes) to H.264 High / yuv420p MP4 bytes."""
    if width % 2 or height % 2:
        raise ValueError("H.264 yuv420p needs even frame sizes")
    if layout not in MP4_LAYOUTS:
        raise ValueError(f"layout must be one of {MP4_LAYOUTS}")
    # fmt: off
    args = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "pipe:0",
        "-an", "-c:v", "libx264", "-preset", "fast", "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-profile:v", "high", "-bf", "0", "-g", "100000", "-sc_threshold", "0", "-threads", "2",
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
        "-bsf:v", "filter_units=remove_types=6",
    ]
    # fmt: on
    if layout == "fragmented":
        return _run(
            [*args, "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", "pipe:1"],
            frames,
            width,
            height,
            on_frame,
        )
    fd = os.memfd_create("miaohua-video", os.MFD_CLOEXEC)
    try:
        _run([*args, "-movflags", "+faststart", "-f", "mp4", "-y", f"/dev/fd/{fd}"], frames, width, height, on_frame,
             pass_fds=(fd,))
        return os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)


def _run(
    args: list[str],
    frames: Iterable[np.ndarray],
    width: int,
    height: int,
    on_frame: Callable[[int], None] | None,
    pass_fds: tuple[int, ...] = (),
) -> bytes:
    """Run ffmpeg, feeding raw frames on stdin; returns its stdout."""
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds
    )
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True),
    ]
    for t in readers:
        t.start()
    assert proc.stdin is not None
    try:
        for i, frame in enumerate(frames):
            if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                raise ValueError(f"frame {i}: expected {height}x{width}x3 uint8, got {frame.shape} {frame.dtype}")
            proc.stdin.write(np.ascontiguousarray(frame).tobytes())
            if on_frame:
                on_frame(i)
        proc.stdin.close()
        rc = proc.wait(timeout=120)
    except BrokenPipeError:  # ffmpeg exited early: report its own error below
        rc = proc.wait(timeout=30)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        for t in readers:
            t.join(timeout=10)
    if rc != 0:
        raise RuntimeError(f"ffmpeg failed ({rc}): {b''.join(err).decode(errors='replace')[-2000:]}")
    return b"".join(out)
