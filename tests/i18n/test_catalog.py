"""Every user-facing text has a zh_CN translation (the default language), and the catalog is well-formed.

When one of these fails after adding a message: run ``make i18n`` and translate the new empty ``msgstr`` entries of
app/translations/zh_Hans_CN/LC_MESSAGES/messages.po (docs/i18n.md).
"""

from __future__ import annotations

import ast

import pytest

from app.core import errors
from app.core.errors import STATUS_CODES, STATUS_MESSAGES, ApiError
from app.generation.labels import JOB_ERROR_TEXTS, JOB_STATUS_LABELS, STYLE_KIND_LABELS
from app.generation.models import JobStatus
from app.notices.labels import NOTICE_KIND_LABELS
from app.notices.models import NoticeKind
from app.orders.labels import ORDER_STATUS_LABELS, PRODUCT_NAMES
from app.orders.models import OrderStatus
from app.orders.products import PRODUCTS
from app.privacy.labels import (
    CATEGORY_LABELS,
    DATA_KIND_LABELS,
    OPERATION_LABELS,
    REASON_LABELS,
    REQUEST_STATUS_LABELS,
)
from app.privacy.retention import CLASSES
from tests.i18n.catalog import (
    all_subclasses,
    import_app_modules,
    is_translated,
    lazy_msgid,
    message_msgid,
    raise_sites,
    untranslated,
    zh,
    zh_catalog,
)
from workers.generators.styles import list_styles


def _missing(msgids) -> list[str]:
    return sorted({m for m in msgids if not is_translated(m)})


def test_every_extracted_message_has_a_zh_cn_translation():
    missing = untranslated()
    listing = "\n".join(f"  {msgid!r}  ({', '.join(where[:2])})" for msgid, where in sorted(missing.items()))
    assert not missing, f"untranslated (run `make i18n`, then translate them in the zh_CN catalog):\n{listing}"


def test_the_catalog_passes_babels_checks():
    problems = [(message.id, [str(error) for error in found]) for message, found in zh_catalog().check()]
    assert not problems, problems  # e.g. a %(placeholder)s missing from the translation


def test_every_api_error_class_has_a_code_and_a_translated_default_message():
    import_app_modules()
    classes = [ApiError, *all_subclasses(ApiError)]
    assert len(classes) > 50
    untranslated_classes = [f"{cls.__module__}.{cls.__name__} ({cls.code}): {cls.message!r}" for cls in classes
                            if not cls.code or not is_translated(cls.message)]
    assert not untranslated_classes, untranslated_classes


def test_every_raise_names_a_translatable_message():
    """Each ApiError built in app/ (every ``code=`` literal included) shows a message the catalog translates: a
    literal, ``_l("… %(x)s …", x=…)``, or the class default. f-strings and concatenations cannot be translated."""
    problems, codes = [], set()
    for path, line, cls, code, node in raise_sites():
        if code:
            codes.add(code)
        if node is None:
            continue  # the class default: checked above
        if isinstance(node, ast.JoinedStr | ast.BinOp) or (isinstance(node, ast.Call) and _is_format(node)):
            problems.append(f"{path}:{line} {cls}: formatted message; use _l('… %(name)s …', name=…)")
            continue
        msgid = message_msgid(node)
        if msgid is not None and not is_translated(msgid):
            problems.append(f"{path}:{line} {cls}(code={code}): {msgid!r} has no zh_CN translation")
    assert not problems, "\n".join(problems)
    assert {"consent_required", "unknown_style", "wrong_source_count", "result_not_found"} <= (
        codes | {c.code for c in all_subclasses(ApiError)})


def _is_format(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def test_every_status_code_has_a_translated_message():
    assert set(STATUS_CODES) <= set(STATUS_MESSAGES)
    assert _missing(STATUS_MESSAGES.values()) == []
    assert errors.STATUS_MESSAGES[401] == "Log in to continue." and zh("Log in to continue.") == "请先登录。"


def test_style_names_translate_to_the_catalogues_chinese_names():
    styles = list_styles()
    assert styles
    for spec in styles:
        assert spec.name_en and spec.name_zh, spec.id
        assert zh(spec.name_en) == spec.name_zh, f"{spec.id}: catalog {zh(spec.name_en)!r} != {spec.name_zh!r}"
    assert zh("Watercolor") == "水彩"


def test_product_names_translate_to_the_names_wechat_pay_shows():
    assert set(PRODUCT_NAMES) == set(PRODUCTS)
    for product_id, label in PRODUCT_NAMES.items():
        assert zh(lazy_msgid(label)) == PRODUCTS[product_id].name, product_id
    assert zh(lazy_msgid(PRODUCT_NAMES["hd_result"])).startswith("高清原图")


@pytest.mark.parametrize(("labels", "ids"), [
    (JOB_STATUS_LABELS, set(JobStatus)),
    (ORDER_STATUS_LABELS, set(OrderStatus)),
    (CATEGORY_LABELS, "every domain's holdings and deletable categories (the lifecycle registry)"),
    (OPERATION_LABELS, {"generate", "download_preview", "download_original", "share", "download_export"}),
    (REQUEST_STATUS_LABELS, {"pending", "completed", "rejected"}),
    (STYLE_KIND_LABELS, {"photo", "id_photo", "avatar", "video"}),
    (DATA_KIND_LABELS, {"portrait_upload", "result_image", "export_archive", "operation_logs", "devices",
                        "account"}),
    (REASON_LABELS, {"job_succeeded", "job_failed", "job_cancelled", "user_request", "retention_expired",
                     "account_cancelled", "unclaimed_expired"}),
    (JOB_ERROR_TEXTS, {"no_face", "timeout", "worker_lost", "cancelled", "internal_error"}),
    (NOTICE_KIND_LABELS, set(NoticeKind)),
], ids=["job_statuses", "order_statuses", "categories", "operations", "request_statuses", "style_kinds",
        "data_kinds", "deletion_reasons", "job_errors", "notice_kinds"])
def test_every_label_is_translated(labels, ids, app):
    if isinstance(ids, str):  # what the registered domains hold and let a user delete, as the API names them
        from app.core import lifecycle
        from app.privacy.rights import categories

        with app.app_context():
            ids = {holding.name for holding in lifecycle.holdings(0)} | set(categories())
    assert ids <= set(labels), sorted(ids - set(labels))
    assert _missing(lazy_msgid(label) for label in labels.values()) == []


def test_retention_classes_are_translated():
    assert _missing(rule.what for rule in CLASSES.values()) == []
    assert zh("portrait uploads no job claimed")


def test_what_we_hold_categories_and_retention_texts_are_translated(app_ctx):
    from app.privacy.rights import Category, holdings

    class Nobody:
        id, has_phone = 0, False

    categories: list[Category] = holdings(Nobody())  # type: ignore[arg-type]
    assert {c.name for c in categories} <= set(CATEGORY_LABELS)
    assert _missing(lazy_msgid(c.retention) for c in categories) == []


def test_the_checker_catches_a_missing_translation():
    """The tests above can fail: an English text that is not in the catalog is reported."""
    assert not is_translated("A sentence nobody translated.")
    assert not is_translated("")
