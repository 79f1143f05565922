"""The cap on live unclaimed photos holds under concurrency: the count runs under the user row's lock, once per
upload, after the image work (issue #20: the upload's SQL)."""

import io
import threading
import time
from datetime import datetime

import pytest
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from app.accounts.models import User
from app.core.objects import StoredObject
from app.extensions import db
from app.uploads import services
from app.uploads.models import Upload
from tests.sql import statements
from tests.uploads.conftest import post_photo


@pytest.fixture
def cap_of_one(app):
    previous = app.config["UPLOAD_MAX_UNCLAIMED_PER_USER"]
    app.config["UPLOAD_MAX_UNCLAIMED_PER_USER"] = 1
    yield
    app.config["UPLOAD_MAX_UNCLAIMED_PER_USER"] = previous


def test_an_upload_counts_its_unclaimed_photos_once(app, uploader, sample_jpeg):
    with statements(app) as sent:
        assert post_photo(uploader, sample_jpeg).status_code == 201
    counts = [i for i, s in enumerate(sent) if "count(uploads.id)" in s]
    assert len(counts) == 1, sent
    assert sent[counts[0] - 1].lstrip().startswith("SELECT users.id")  # right after the user row's lock
    assert not any("FROM age_declarations" in s and "consent_records" not in s for s in sent)  # read with consents


@pytest.mark.postgres
def test_the_count_holds_the_user_row_until_the_transaction_ends(app, uploader):
    user_id = uploader.call("GET", "/api/v1/me").get_json()["data"]["id"]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.public_id == user_id))
        services.check_unclaimed(user)  # the transaction stays open
        with db.engine.connect() as other:
            other.execute(text("SET lock_timeout = '100ms'"))
            with pytest.raises(OperationalError, match="lock"):
                other.execute(select(User.id).where(User.id == user.id).with_for_update())
            other.rollback()
            db.session.rollback()  # released
            other.execute(text("SET lock_timeout = '100ms'"))
            assert other.execute(select(User.id).where(User.id == user.id).with_for_update()).scalar() == user.id
        db.session.remove()


@pytest.mark.postgres
def test_two_uploads_at_once_at_the_cap_store_one(app, uploader, sample_jpeg, cap_of_one, dbx, monkeypatch):
    """Storage is slowed down so that both requests have counted before either commits, were it not for the
    lock: the second waits for the first's commit, then counts its photo and is refused. (A count in the same
    statement as the lock failed this: it read the snapshot from before its wait.)"""
    store = services.objects.store

    def slow_store(*args, **kwargs):
        time.sleep(0.3)
        return store(*args, **kwargs)

    monkeypatch.setattr(services.objects, "store", slow_store)
    headers = uploader.headers()
    answers: list[int] = []
    start = threading.Barrier(2)

    def send() -> None:
        client = app.test_client()
        start.wait()
        response = client.post("/api/v1/uploads", headers=headers, content_type="multipart/form-data",
                               data={"file": (io.BytesIO(sample_jpeg), "photo.jpg", "image/jpeg"),
                                     "declaration": "own_face"})
        answers.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers) == [201, 429]
    assert dbx.count(Upload, Upload.deleted_at.is_(None)) == 1


def test_an_upload_inserts_its_two_rows_once_and_answers_what_it_wrote(app, uploader, sample_jpeg, dbx):
    """The stored object's and the upload's rows are two prebuilt INSERTs (issue #20, no ORM flush); the answer
    and the content check read what was written, not the database again, and it is what the database holds."""
    with statements(app) as sent:
        response = post_photo(uploader, sample_jpeg)
    assert response.status_code == 201, response.get_json()
    inserts = [i for i, s in enumerate(sent) if s.lstrip().startswith("INSERT")]
    assert [sent[i].split()[2] for i in inserts] == ["stored_objects", "uploads"], sent
    after = sent[inserts[0]:]
    assert not any(s.lstrip().startswith("SELECT") and ("FROM uploads" in s or "FROM stored_objects" in s)
                   for s in after), after
    data = response.get_json()["data"]
    upload = dbx.one(select(Upload).where(Upload.public_id == data["id"]))
    stored = dbx.one(select(StoredObject).where(StoredObject.id == upload.object_id))
    assert (upload.status, upload.width, upload.height, upload.declaration) == (
        data["status"], data["width"], data["height"], data["declaration"])
    assert upload.created_at == datetime.fromisoformat(data["created_at"])  # to the microsecond
    assert stored.kind == "portrait_upload" and stored.wrapped_key and stored.destroyed_at is None
    with app.app_context():  # the row's wrapped key opens the file written
        photo = Image.open(io.BytesIO(services.photo_under_review(data["id"])))
    assert (photo.format, photo.size) == ("JPEG", (data["width"], data["height"]))
