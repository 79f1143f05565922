from tests.uploads.conftest import dbx, live_server, sample_jpeg, uploader  # noqa: F401 - shared fixtures
