"""The purposes we ask consent for: data, not code paths. Each names its legal basis (policy §3)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Purpose:
    id: str
    name: str
    description: str
    legal_basis: str
    required: bool  # required to use the service at all (cannot be withdrawn except by cancelling)
    separate: bool  # PIPL "separate consent": asked on its own screen, never bundled


SERVICE = "service"
FACE_PROCESSING = "face_processing"
AVATAR_STORAGE = "avatar_storage"
MARKETING = "marketing"

PURPOSES: dict[str, Purpose] = {p.id: p for p in (
    Purpose(SERVICE, "基本功能",
            "登录、绑定手机号、订单与客服等提供服务所必需的个人信息处理（政策第二节第 1 部分）。",
            "履行合同所必需（《个人信息保护法》第十三条第二项）", required=True, separate=False),
    Purpose(FACE_PROCESSING, "人脸图像处理",
            "处理您上传的人像照片以生成图片和视频；仅用于图像处理，不用于身份识别，服务完成后自动删除（第二节）。",
            "单独同意（《个人信息保护法》第二十九条，敏感个人信息）", required=False, separate=True),
    Purpose(AVATAR_STORAGE, "数字分身保存", "在多次使用之间保存您的数字分身，以便再次生成；撤回后立即删除。",
            "单独同意（《个人信息保护法》第二十九条）", required=False, separate=True),
    Purpose(MARKETING, "活动与推荐", "向您发送活动和新功能通知（可随时撤回，不影响其他功能）。",
            "同意（《个人信息保护法》第十三条第一项）", required=False, separate=False),
)}
