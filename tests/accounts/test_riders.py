"""Riders (app/accounts/riders.py): another domain's Redis read sent in the auth round trip, handed back once,
to the same request, for the user it authenticated as; an error reply is never handed back."""

from __future__ import annotations

from redis.exceptions import ResponseError

from app.accounts import riders


def test_a_reply_goes_to_its_request_and_user_once(app):
    with app.test_request_context("/api/v1/anything"):
        riders.keep(7, {"a": [b"x"], "b": ResponseError("NOSCRIPT"), "c": []})
        assert riders.ridden("a", 8) is None  # another user's request: never
        assert riders.ridden("a", 7) == [b"x"]
        assert riders.ridden("a", 7) is None  # taken once
        assert riders.ridden("b", 7) is None  # the error reply: the rider reads Redis itself
        assert riders.ridden("c", 7) == []  # an empty reply is a reply (a cache miss), not "did not ride"
    with app.test_request_context("/api/v1/anything"):
        assert riders.ridden("c", 7) is None  # nothing crosses into the next request
    assert riders.ridden("c", 7) is None  # nor outside one


def test_riders_build_their_command_for_the_request(app, monkeypatch):
    monkeypatch.setattr(riders, "_RIDERS", {})
    riders.ride_along("args", lambda user_id: ["GET", f"k:{user_id}"])
    riders.ride_along("packed", lambda user_id: b"*1\r\n$4\r\nPING\r\n")
    riders.ride_along("not-this-request", lambda user_id: None)
    assert riders.commands(3) == []  # outside a request
    with app.test_request_context("/"):
        assert riders.commands(3) == [("args", b"*2\r\n$3\r\nGET\r\n$3\r\nk:3\r\n"),
                                      ("packed", b"*1\r\n$4\r\nPING\r\n")]
