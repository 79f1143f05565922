"""The request class of the app: multipart file parts are parsed into memory, never spooled to disk.

Werkzeug's default stream factory keeps a file part in memory up to 500 KB and then rolls it over to an
unnamed temporary file in the temp directory, where a portrait (with its EXIF GPS) would lie in plain text
for the whole request. Here every file part is a ``BytesIO``. Memory stays bounded: Werkzeug refuses a
body over ``MAX_CONTENT_LENGTH`` (declared or streamed) with 413 before it is read, and every part is
within the body. Without a limit there would be no bound, so a request then carries no file at all.
"""

from __future__ import annotations

import io
from typing import IO

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge


class InMemoryRequest(Request):
    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        if self.max_content_length is None:  # MAX_CONTENT_LENGTH unset: memory would be unbounded
            raise RequestEntityTooLarge()
        return io.BytesIO()
