"""Fixtures for the console's browser tests: the app on a live loopback server, WeChat Pay against the sandbox
(``pay_config``, autouse, so orders are really paid and refunded), a logged-in user with a phone, and Chromium."""

from tests.browser import browser  # noqa: F401 - one headless Chromium per module
from tests.orders.conftest import pay_config  # noqa: F401 - autouse: WeChat Pay against the sandbox
from tests.uploads.conftest import dbx, live_server, sample_jpeg, uploader  # noqa: F401 - shared fixtures
