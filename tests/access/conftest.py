from tests.orders.conftest import pay_config  # noqa: F401 - autouse: WeChat Pay against the sandbox, uploads ready at once
from tests.uploads.conftest import dbx, live_server, post_photo, sample_jpeg, uploader  # noqa: F401 - shared fixtures
