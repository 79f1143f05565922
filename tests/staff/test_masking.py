"""What the console shows instead of personal data."""

from __future__ import annotations

import pytest

from app.staff.masking import mask_email, mask_openid, mask_phone, mask_text


@pytest.mark.parametrize(("phone", "masked"), [
    ("13812341234", "138****1234"),
    ("+8613812341234", "138****1234"),
    ("1234", "**34"),
    ("12", "**"),
    (None, None),
    ("", ""),
])
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


def test_mask_text_keeps_the_first_character_and_hides_the_length():
    assert mask_text("张三丰") == "张**"
    assert mask_text("A") == "*"
    assert mask_text("a very long nickname indeed") == "a******"
    assert mask_text(None) is None


def test_mask_openid_and_email():
    assert mask_openid("oABCDEFGHIJKLMNOP1234") == "oABC****1234"
    assert mask_openid("short") == "****"
    assert mask_email("alice@example.com") == "a****@example.com"
    assert mask_email("not-an-email") == "n******"
