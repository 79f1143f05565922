"""The payer of an order (and the user of every other WeChat API call) is the account's openid in *this*
mini-program: WeChat Pay refuses a prepay whose payer openid belongs to another appid, and an account joined by
unionid from another of our apps has one identity per appid."""

from __future__ import annotations

from app.accounts import services
from app.accounts.services import openid_of
from app.extensions import db
from app.orders.services import payer_openid


def test_the_payer_is_the_accounts_openid_in_this_mini_program(app):
    this_app = app.config["WECHAT_APPID"]

    def login(appid: str, openid: str) -> services.LoginResult:
        app.config["WECHAT_APPID"] = appid
        try:
            with app.test_request_context():
                try:
                    return services._complete_wechat_login(
                        {"openid": openid, "unionid": "union-payer", "session_key": "key-0123456789abcdef"}, None)
                finally:
                    db.session.remove()
        finally:
            app.config["WECHAT_APPID"] = this_app

    elsewhere = login("wx0ther0app0000000", "openid-in-the-other-app")  # first: the account's first identity
    here = login(this_app, "openid-in-this-mini-program")
    assert here.user.id == elsewhere.user.id and not here.new_user

    with app.test_request_context():
        assert payer_openid(here.user.id) == "openid-in-this-mini-program"
        assert openid_of(here.user.id) == "openid-in-this-mini-program"
        assert openid_of(here.user.id, appid="wx0ther0app0000000") == "openid-in-the-other-app"
        db.session.remove()
