from tests.uploads.conftest import dbx, sample_jpeg, uploader  # noqa: F401 - shared fixtures
