"""The API docs in a real browser, as someone holding only an API key: /docs (Swagger UI) opens
without signing in, "Authorize" takes the key and "Try it out" then answers with the key's user;
/redoc renders the reference from the self-hosted script."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.actor import Actor
from accounts.services import api_key_create

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_authorize_with_an_api_key_on_the_docs_page_then_try_an_operation(
    live_server: Any, page: Any, django_user_model: Any
) -> None:
    holder = django_user_model.objects.create_user(username="keyholder", email="kh@example.com", password="x")
    _, raw = api_key_create(user=holder, name="docs", actor=Actor.system_job("e2e"))

    page.goto(f"{live_server.url}/docs")
    assert "/accounts/login/" not in page.url
    page.locator("button.authorize").first.click()
    dialog = page.locator(".auth-container").filter(has_text="X-API-Key")
    dialog.locator("input").fill(raw)
    dialog.locator("button.authorize").click()
    page.locator(".auth-btn-wrapper button.btn-done").first.click()

    operation = page.locator(".opblock").filter(has=page.locator('[data-path="/api/v1/me"]'))
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table tr.response")
    live.locator(".response-col_status").wait_for()
    assert live.locator(".response-col_status").inner_text().strip().startswith("200")
    assert '"username": "keyholder"' in live.locator(".microlight").first.inner_text()


# ReDoc's bundle always shows "API docs by Redocly" with its logo from this address (an <img> that
# hides itself when the logo cannot load); it is the page's only request to another host.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_redoc_renders_the_reference_without_signing_in(live_server: Any, page: Any) -> None:
    elsewhere: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith((live_server.url, "blob:")) else None)
    page.route(REDOC_LOGO, lambda route: route.fulfill(status=200, content_type="image/svg+xml", body="<svg/>"))
    page.goto(f"{live_server.url}/redoc")
    assert "/accounts/login/" not in page.url
    page.locator("h1", has_text="Tracker API").wait_for()
    page.locator("h2", has_text="List and filter tasks").first.wait_for()
    assert set(elsewhere) <= {REDOC_LOGO}
