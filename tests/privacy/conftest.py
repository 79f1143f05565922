import pytest
from rq import Queue

from app.core.jobs import redis_connection
from tests.orders.conftest import pay_config  # noqa: F401 - autouse: WeChat Pay against the sandbox, no content check
from tests.uploads.conftest import dbx, live_server, sample_jpeg, uploader  # noqa: F401 - shared fixtures
from workers.base import AppSimpleWorker


def run_queue(app, name: str) -> None:
    conn = redis_connection(app)
    AppSimpleWorker([Queue(name, connection=conn)], connection=conn, flask_app=app).work(burst=True)


@pytest.fixture
def run_default_queue(app):
    return lambda: run_queue(app, "default")
