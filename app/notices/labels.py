"""What the user reads for a notice's kind (the mini-program shows it above the notice's title)."""

from __future__ import annotations

from app.core.i18n import _l

from .models import NoticeKind

NOTICE_KIND_LABELS = {
    NoticeKind.INCIDENT: _l("Security incident"),
    NoticeKind.COMPANY_TRANSFER: _l("Company transfer"),
    NoticeKind.SHUTDOWN: _l("Service shutdown"),
    NoticeKind.SERVICE: _l("Service announcement"),
}


def notice_kind_label(kind: str) -> str:
    label = NOTICE_KIND_LABELS.get(kind)  # type: ignore[call-overload]
    return str(label) if label is not None else kind
