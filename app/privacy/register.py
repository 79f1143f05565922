"""The processing register (policy §3 and §6): every processing purpose, with or without consent, its legal
basis, data classes, retention and processors — built from the lifecycle registry, so a domain that starts
processing personal data describes it where it handles it. Served as a page beside the policy
(``/privacy/register``, app/consent/pages.py) and included in every export's README."""

from __future__ import annotations

from typing import Any

from app.core import lifecycle

COLUMNS = (("purpose", "处理目的"), ("legal_basis", "法律依据"), ("data", "个人信息种类"),
           ("retention", "保存期限"), ("processors", "受托方 / 第三方"), ("consent", "需要的同意"))


def register_rows() -> list[dict[str, Any]]:
    from app.consent.purposes import PURPOSES

    rows = []
    for activity in lifecycle.processing():
        consent = PURPOSES[activity.consent].name if activity.consent in PURPOSES else "无需同意（见政策第三节）"
        rows.append({"purpose": activity.purpose, "legal_basis": activity.legal_basis, "data": activity.data,
                     "retention": activity.retention, "processors": activity.processors, "consent": consent})
    return rows


def register_markdown() -> str:
    def cell(value: str) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row[key]) for key, _ in COLUMNS) + " |" for row in register_rows()]
    return "\n".join(lines)
