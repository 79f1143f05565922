"""What can be bought, at server-side prices (the client never sends an amount)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SubjectKind = Literal["result", "job"] | None


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price_fen: int
    grants: Literal["hd_result", "hd_job", "credit"]
    subject: SubjectKind  # what the order is about: one result, one job, or nothing (credits)
    credits: int = 0
    credit_kind: str | None = None  # which style kind the credits pay for


PRODUCTS: dict[str, Product] = {p.id: p for p in (
    Product("hd_result", "高清原图下载（单张）", 990, "hd_result", "result"),
    Product("hd_job", "高清原图下载（本次全部）", 1990, "hd_job", "job"),
    Product("avatar_creation", "数字分身制作", 2990, "credit", None, credits=1, credit_kind="avatar"),
    Product("video_generation", "动态视频生成", 1990, "credit", None, credits=1, credit_kind="video"),
    Product("video_pack_5", "动态视频 5 次", 7990, "credit", None, credits=5, credit_kind="video"),
)}

# Style kinds that cost a credit to generate (photo styles and ID photos are free to generate;
# their HD originals are what is sold).
PAID_KINDS = {"avatar", "video"}
