"""The API docs page in real Chromium: Swagger UI 5 renders the 3.1 document, offline, and "Try it out"
calls the running app (issue #18: the old bundled 4.x answered "Unable to render this definition")."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser import browser, new_page  # noqa: F401 - one headless Chromium per module
from tests.conftest import serve_in_thread


@pytest.fixture(scope="module")
def docs_server(app):
    with serve_in_thread(app) as base_url:
        yield base_url


def test_the_docs_page_lists_the_operations_and_tries_one_against_the_app(browser, docs_server):  # noqa: F811
    page = new_page(browser)
    outside: list[str] = []
    origin = urlsplit(docs_server).netloc

    def only_the_app(route) -> None:  # the page must work with no network beyond the app itself
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_app)
    page.goto(f"{docs_server}/api/v1/docs")
    page.wait_for_selector(".opblock-summary", timeout=20_000)
    assert "Unable to render" not in page.content()
    assert page.locator(".info .title").inner_text().startswith("Miaohua")
    assert page.locator(".opblock").count() >= 60  # every operation of the document is listed
    assert page.locator("#operations-uploads-uploads_create_upload").count() == 1

    styles = page.locator("#operations-generation-generation_list_styles")
    styles.locator(".opblock-summary").click()
    styles.get_by_role("button", name="Try it out").click()
    styles.get_by_role("button", name="Execute").click()
    status = styles.locator(".live-responses-table .response .response-col_status").first
    status.wait_for(timeout=15_000)
    assert status.inner_text().strip() == "200"
    assert "pop_art" in styles.locator(".live-responses-table").first.inner_text()  # the real answer, shown
    assert outside == [] and page.errors == []
    page.context.close()
