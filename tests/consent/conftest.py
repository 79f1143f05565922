import pytest
from flask import Blueprint

from app.consent.guards import requires_consent
from tests.accounts.helpers import Db, Phone
from tests.conftest import make_app


@pytest.fixture(scope="module")
def guarded_app(wechat_sandbox):
    """The real app plus two endpoints standing in for features that need consent (uploads, generation)."""
    bp = Blueprint("feature", __name__)

    @bp.get("/api/v1/test/gallery")
    def gallery():  # needs only the accepted policy (global guard)
        return {"data": "gallery"}

    @bp.post("/api/v1/test/uploads")
    @requires_consent("face_processing")
    def upload():
        return {"data": "uploaded"}

    app = make_app(WECHAT_API_BASE_URL=wechat_sandbox.base_url)
    app.register_blueprint(bp)
    from app.consent.policy import ensure_initial_version
    from app.extensions import db

    with app.app_context():
        db.create_all()
        ensure_initial_version()
    return app


@pytest.fixture
def user(guarded_app, wechat_sandbox, app) -> Phone:
    """A logged-in user with a bound phone (``app`` is requested so tables are cleaned after each test)."""
    phone = Phone(guarded_app.test_client(), wechat_sandbox)
    wechat_sandbox.set_user("alice", phone="13811110000")
    phone.login()
    phone.bind_phone()
    return phone


@pytest.fixture
def gdb(guarded_app) -> Db:
    return Db(guarded_app)


def publish(app, version_id: str, *, major: bool, summary: str = "changes",
            text: str = "# 政策\n\n## 新章节\n") -> None:
    from datetime import UTC, datetime, timedelta

    from app.consent import policy

    with app.app_context():
        policy.publish(version_id, text, major=major, summary=summary,
                       effective_at=datetime.now(UTC) - timedelta(seconds=1))
