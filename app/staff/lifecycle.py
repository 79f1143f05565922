"""Staff's lifecycle: staff accounts hold no user data, but the TOTP secrets are sealed (key rotation)
and the audit log of staff access to personal data is a processing activity of its own (§7)."""

from __future__ import annotations

from app.core.lifecycle import Lifecycle, Processing, SealedColumn

from .models import StaffAccount


def sealed_columns() -> list[SealedColumn]:
    from .services import TOTP_PENDING_PURPOSE, TOTP_PURPOSE

    return [SealedColumn(StaffAccount, "totp_secret_ciphertext", TOTP_PURPOSE),
            SealedColumn(StaffAccount, "totp_pending_ciphertext", TOTP_PENDING_PURPOSE)]


def lifecycle() -> Lifecycle:
    return Lifecycle(
        domain="staff", sealed_columns=sealed_columns,
        processing=(Processing("工作人员访问审计日志",
                               "履行法定义务（《个人信息保护法》第五十一条：安全措施与访问控制）",
                               "工作人员查看或处理您个人信息的记录（谁、何时、查看了哪条记录）",
                               "只增不改；随审计需要保存"),))
