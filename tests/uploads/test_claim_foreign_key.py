"""``uploads.claimed_by`` is a real foreign key to the generation job (indexed), not a free string."""

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.uploads.models import Upload
from tests.privacy.test_retention import make_job, make_upload, make_user


def test_a_claim_must_name_an_existing_job_and_is_cleared_when_the_job_row_goes(app):
    with app.app_context():
        user = make_user()
        job = make_job(user)
        upload = make_upload(user, claimed_by=job.public_id)
        db.session.commit()
        upload_id = upload.id

        with pytest.raises(IntegrityError):
            make_upload(user, claimed_by="0" * 32)  # no such job
        db.session.rollback()

        db.session.delete(db.session.get(type(job), job.id))
        db.session.commit()
        db.session.expire_all()
        assert db.session.scalar(select(Upload.claimed_by).where(Upload.id == upload_id)) is None


def test_claimed_by_is_indexed(app):
    with app.app_context():
        indexes = inspect(db.engine).get_indexes("uploads")
        foreign_keys = inspect(db.engine).get_foreign_keys("uploads")
    assert any(index["column_names"] == ["claimed_by"] for index in indexes)
    assert any(fk["constrained_columns"] == ["claimed_by"] and fk["referred_table"] == "generation_jobs"
               and fk["referred_columns"] == ["public_id"] for fk in foreign_keys)
