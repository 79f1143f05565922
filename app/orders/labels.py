"""What the user reads for the orders domain's ids: product names and order statuses.

``products.py`` keeps each product's Chinese name (it is what WeChat Pay and the shipping upload show, always in
Chinese); the English text here is the msgid and the zh_CN catalog maps it back to that Chinese name
(tests/i18n checks that they agree), so a client asking for English reads English.
"""

from __future__ import annotations

from app.core.i18n import _l

from .models import OrderStatus
from .products import PRODUCTS

PRODUCT_NAMES = {
    "hd_result": _l("HD original download (one image)"),
    "hd_job": _l("HD original download (the whole job)"),
    "avatar_creation": _l("Digital avatar creation"),
    "video_generation": _l("Video generation"),
    "video_pack_5": _l("Video generation, 5 times"),
}

ORDER_STATUS_LABELS = {
    OrderStatus.CREATED: _l("Awaiting payment"),
    OrderStatus.PAID: _l("Paid"),
    OrderStatus.FULFILLED: _l("Delivered"),
    OrderStatus.CLOSED: _l("Closed"),
    OrderStatus.REFUNDING: _l("Refund in progress"),
    OrderStatus.REFUNDED: _l("Refunded"),
    OrderStatus.PARTIALLY_REFUNDED: _l("Partially refunded"),
}


def product_name(product_id: str) -> str:
    label = PRODUCT_NAMES.get(product_id)
    if label is not None:
        return str(label)
    product = PRODUCTS.get(product_id)
    return product.name if product is not None else product_id


def order_status_text(status: str) -> str:
    label = ORDER_STATUS_LABELS.get(status)  # type: ignore[call-overload]
    return str(label) if label is not None else status
