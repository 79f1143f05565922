from __future__ import annotations

import pytest

from tests.accounts.helpers import Db


@pytest.fixture
def dbx(app) -> Db:
    return Db(app)
