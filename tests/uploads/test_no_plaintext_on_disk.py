"""Plain text never touches disk: an upload is parsed, validated, checked and normalised in memory.

Every file the process opens while a ~2 MB portrait (with EXIF GPS) is uploaded is recorded through a Python
audit hook (``open`` covers ``open()``, ``io.open`` and ``os.open``, so also the unnamed temporary file that
Werkzeug's default parser rolls a file part over 500 KB into; ``tempfile.*`` covers named temporary files).
The only file opened for writing may be the object store's ciphertext.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from tests.uploads import images

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC | getattr(os, "O_TMPFILE", 0)
_recorders: list[list[tuple[str, object, object]]] = []
_lock = threading.Lock()


def _path_of(target: object) -> object:
    if isinstance(target, int):  # open(fd) / os.fdopen: the file behind the descriptor
        try:
            return os.readlink(f"/proc/self/fd/{target}")
        except OSError:
            return target
    return os.fsdecode(target) if isinstance(target, (str, bytes, os.PathLike)) else target


def _audit(event: str, args: tuple) -> None:
    if _recorders and (event == "open" or event.startswith("tempfile.")):
        record = (event, _path_of(args[0]), args[1] if event == "open" else None)
        with _lock:
            for recorder in _recorders:
                recorder.append(record)


_installed: list[bool] = []


@contextmanager
def files_opened():
    """Every ``open`` / ``tempfile`` audit event of this process, any thread, while the block runs."""
    if not _installed:
        sys.addaudithook(_audit)  # audit hooks cannot be removed: one, inert while no recorder listens
        _installed.append(True)
    opened: list = []
    with _lock:
        _recorders.append(opened)
    try:
        yield opened
    finally:
        with _lock:
            _recorders.remove(opened)


def opened_for_writing(event: tuple) -> bool:
    name, _path, mode = event
    if name != "open":
        return True  # a named temporary file or directory
    if isinstance(mode, str):
        return any(flag in mode for flag in "wax+")
    return isinstance(mode, int) and bool(mode & _WRITE_FLAGS)


def store_files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def test_a_2mb_portrait_is_uploaded_without_any_plaintext_file(uploader, app, tmp_path, monkeypatch):
    photo = images.large_jpeg_with_gps()
    assert len(photo) > 2_000_000 and b"PhoneMaker" in photo
    empty_tmp = tmp_path / "tmp"
    empty_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(empty_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(empty_tmp))
    boundary = "----miaohua-no-disk"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n").encode() + photo + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="declaration"\r\n\r\nown_face\r\n'
            f"--{boundary}--\r\n").encode()  # built here: the test client's own encoder spools over 500 KB
    store_root = Path(app.config["STORAGE_LOCAL_ROOT"]).resolve()
    before = store_files(store_root)
    with files_opened() as opened:
        response = uploader.call("POST", "/api/v1/uploads", data=body,
                                 content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 201, response.get_json()

    written = [event for event in opened if opened_for_writing(event)]
    outside_store = [event for event in written
                     if not (isinstance(event[1], str) and Path(event[1]).resolve().is_relative_to(store_root))]
    assert outside_store == [], f"files opened for writing during the upload: {outside_store}"
    assert list(empty_tmp.iterdir()) == []
    stored = store_files(store_root) - before
    assert stored, "the encrypted photo is in the object store"
    for path in stored:  # what the store wrote is ciphertext: neither the photo nor its metadata in clear
        content = path.read_bytes()
        assert not content.startswith(b"\xff\xd8") and b"PhoneMaker" not in content and b"JFIF" not in content
