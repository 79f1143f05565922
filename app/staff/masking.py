"""Masking of personal data shown in the staff console (policy §7: staff see the minimum).

The console shows masked values by default; seeing one field in full is a separate, audited action
(``users.unmask`` with a reason). Masks keep just enough to tell records apart on a phone call
("the number ending 1234") and never the length of free text beyond a small cap.
"""

from __future__ import annotations

_TEXT_STARS_MAX = 6


def mask_phone(phone: str | None) -> str | None:
    """``13812341234`` → ``138****1234``; a leading ``+86`` is dropped; short numbers keep 2 digits."""
    if not phone:
        return phone
    digits = phone.strip()
    if digits.startswith("+86"):
        digits = digits[3:]
    if len(digits) >= 8:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 1) + digits[-2:] if len(digits) > 2 else "*" * len(digits)


def mask_text(text: str | None) -> str | None:
    """Free text (nickname, name, address): the first character, then at most six stars."""
    if not text:
        return text
    if len(text) == 1:
        return "*"
    return text[0] + "*" * min(len(text) - 1, _TEXT_STARS_MAX)


def mask_openid(openid: str | None) -> str | None:
    """A WeChat openid: the first and last four characters, enough to match a WeChat support case."""
    if not openid:
        return openid
    if len(openid) <= 8:
        return "****"
    return f"{openid[:4]}****{openid[-4:]}"


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return mask_text(email)
    local, _, domain = email.partition("@")
    return f"{mask_text(local)}@{domain}"
