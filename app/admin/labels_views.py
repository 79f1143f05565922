"""Staff API: the human names of the ids the console shows (style ``watercolor`` → 水彩, job status ``succeeded``
→ 已完成, product ``hd_result`` → 高清原图下载（单张）, deletion reason ``job_succeeded`` → …), in Chinese and English.

The names come from the same message catalogs as the user-facing API (app/translations), so the console and the
mini-program never disagree; the console loads them once after login (static/admin/assets/js/dom.js ``label``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Blueprint
from pydantic import BaseModel, Field

from app.core.api import endpoint
from app.core.i18n import force_locale
from app.generation import labels as generation_labels
from app.generation import services as generation
from app.orders import labels as order_labels
from app.orders.products import PRODUCTS
from app.privacy import labels as privacy_labels
from app.staff.auth import STAFF_API_PREFIX, staff_required
from app.staff.permissions import Permission

bp = Blueprint("admin_labels", __name__, url_prefix=STAFF_API_PREFIX)
CONSOLE_LOCALES = {"zh": "zh_CN", "en": "en"}


class LabelsOut(BaseModel):
    groups: dict[str, dict[str, dict[str, str]]] = Field(
        description='{group: {id: {"zh": …, "en": …}}}; groups: styles, style_kinds, job_statuses, products, '
                    "order_statuses, categories, data_kinds, deletion_reasons, operations, request_statuses")


def _group(ids: Iterable[str], label: Callable[[str], str]) -> dict[str, dict[str, str]]:
    ids = list(ids)
    names: dict[str, dict[str, str]] = {key: {} for key in ids}
    for short, name in CONSOLE_LOCALES.items():
        with force_locale(name):
            for key in ids:
                names[key][short] = label(key)
    return names


def all_labels() -> dict[str, dict[str, dict[str, str]]]:
    styles = {spec.id: spec for spec in generation.catalogue()}
    return {
        "styles": _group(styles, lambda key: generation_labels.style_name(styles[key])),
        "style_kinds": _group(generation_labels.STYLE_KIND_LABELS,
                              lambda key: str(generation_labels.STYLE_KIND_LABELS[key])),
        "job_statuses": _group(generation_labels.JOB_STATUS_LABELS, generation_labels.job_status_text),
        "products": _group(PRODUCTS, order_labels.product_name),
        "order_statuses": _group(order_labels.ORDER_STATUS_LABELS, order_labels.order_status_text),
        "categories": _group(privacy_labels.CATEGORY_LABELS, privacy_labels.category_label),
        "data_kinds": _group(privacy_labels.DATA_KIND_LABELS, privacy_labels.data_kind_label),
        "deletion_reasons": _group(privacy_labels.REASON_LABELS, privacy_labels.reason_text),
        "operations": _group(privacy_labels.OPERATION_LABELS, privacy_labels.operation_label),
        "request_statuses": _group(privacy_labels.REQUEST_STATUS_LABELS, privacy_labels.request_status_label),
    }


@bp.get("/labels")
@staff_required(Permission.DASHBOARD_READ)
@endpoint("Human names of styles, statuses, products, data kinds and reasons, in Chinese and English",
          response=LabelsOut, tags=("staff",), errors=[401, 403])
def labels():
    return LabelsOut(groups=all_labels())
