"""A video job writes no file to disk (README: a user's face never touches a disk in plain text; issue #16).

Three witnesses while the video style runs, for both MP4 layouts: an audit hook (every ``open`` for writing, every
temporary file or directory, every ffmpeg command line), a sampler of ``/proc/<pid>/fd`` of this process and its
children (ffmpeg), and an empty temp directory that must stay empty.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from .support import require_models

require_models()

from workers.generators import GenerationRequest, get_style  # noqa: E402

_EVENTS: list[tuple] = []
_ACTIVE = threading.Event()
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple) -> None:
    if not _ACTIVE.is_set():
        return
    if event == "open":  # an int path wraps an fd already open (a subprocess pipe): not a new file
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
        if writing and isinstance(path, str | bytes) and not os.fsdecode(path).startswith("/dev/"):
            _EVENTS.append(("open-for-writing", path))
    elif event in ("tempfile.mkstemp", "tempfile.mkdtemp", "os.mkdir"):
        _EVENTS.append((event, *args[:1]))
    elif event == "subprocess.Popen":
        _EVENTS.append(("popen", tuple(str(a) for a in args[1])))


sys.addaudithook(_audit)  # hooks cannot be removed: it records only while a test sets _ACTIVE


def _pids() -> list[int]:
    pids = [os.getpid()]
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            pids += [int(p) for p in (task / "children").read_text().split()]
    return pids


def _disk_files_open(temp_root: Path) -> set[tuple[int, str]]:
    """Files open for writing on a real filesystem (not a pipe, socket, memfd or device), or anything in temp."""
    found = set()
    for pid in _pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                flags = int(Path(f"/proc/{pid}/fdinfo/{fd}").read_text().split("flags:")[1].split()[0], 8)
            except (OSError, IndexError, ValueError):
                continue
            if not target.startswith("/") or target.startswith(("/dev/", "/proc/", "/memfd:")):
                continue
            if flags & 0o3 or target.startswith(str(temp_root)):
                found.add((pid, target))
    return found


@pytest.mark.parametrize("layout", ["fragmented", "faststart"])
def test_the_video_style_writes_no_file(generator, portrait_bytes, tmp_path, monkeypatch, layout):
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp_root))
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    monkeypatch.chdir(temp_root)
    before = _disk_files_open(temp_root)
    seen: set[tuple[int, str]] = set()
    done = threading.Event()
    samples = [0]

    def sample() -> None:
        while not done.is_set():
            seen.update(_disk_files_open(temp_root) - before)
            samples[0] += 1
            done.wait(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    style = get_style("living_photo").with_params(layout=layout, seconds=1.0)
    _EVENTS.clear()
    _ACTIVE.set()
    sampler.start()
    try:
        [result] = generator.generate(GenerationRequest(style=style, sources=(portrait_bytes,), long_side=240), None)
    finally:
        _ACTIVE.clear()
        done.set()
        sampler.join()
    assert result.mime == "video/mp4" and len(result.data) > 1000

    writes = [e for e in _EVENTS if e[0] != "popen"]
    assert writes == [], f"the video job created or wrote files: {writes}"
    [ffmpeg] = [e[1] for e in _EVENTS if e[0] == "popen" and "rawvideo" in e[1]]  # the encoder
    output = ffmpeg[-1]
    assert output == "pipe:1" or output.startswith("/dev/fd/"), ffmpeg  # a pipe or an anonymous memory file
    if output.startswith("/dev/fd/"):
        assert "-movflags" in ffmpeg and "+faststart" in ffmpeg
    assert samples[0] >= 10  # the sampler watched the whole job
    assert seen == set(), f"files open for writing on disk while the video was made: {seen}"
    assert list(temp_root.iterdir()) == []
