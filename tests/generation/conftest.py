import pytest
from rq import Queue

from app.core.jobs import redis_connection
from tests.uploads.conftest import dbx, post_photo, sample_jpeg, uploader  # noqa: F401 - shared fixtures
from workers.base import AppSimpleWorker


@pytest.fixture(autouse=True)
def _no_content_check(app):
    """Uploads are ready at once here; the content check has its own tests (tests/uploads)."""
    app.config["CONTENT_CHECK_ENABLED"] = False
    yield
    app.config["CONTENT_CHECK_ENABLED"] = True


def run_generation_queue(app) -> None:
    conn = redis_connection(app)
    AppSimpleWorker([Queue("generation", connection=conn)], connection=conn, flask_app=app).work(burst=True)


def upload_ids(phone, jpeg, count=1) -> list[str]:
    ids = []
    for _ in range(count):
        response = post_photo(phone, jpeg)
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["data"]["id"])
    return ids


def start_job(phone, style, ids, expect=202) -> dict:
    response = phone.call("POST", "/api/v1/jobs", json={"style": style, "uploads": ids})
    assert response.status_code == expect, response.get_json()
    return response.get_json()
