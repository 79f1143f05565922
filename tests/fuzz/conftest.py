import pytest

from tests.accounts.helpers import Db, Phone
from tests.uploads.conftest import uploader  # noqa: F401 - shared fixtures


@pytest.fixture
def member(uploader) -> Phone:
    """A logged-in adult with a phone, the current policy accepted and face-processing consent given."""
    return uploader


@pytest.fixture
def dbx(app) -> Db:
    return Db(app)
