"""Error pages render with no static file and no database; API errors stay JSON whatever happens.

The `no_collected_static` fixture is the production set-up the issue reported: `DEBUG=false`,
whitenoise's manifest storage, and a STATIC_ROOT without the collected files, so any
`{% static %}` raises "Missing staticfiles manifest entry".
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from django.template import TemplateDoesNotExist
from django.test import Client, RequestFactory

from tracker_project import views

PAGE_TITLES = {
    400: "Bad request",
    403: "You cannot open this page",
    404: "Page not found",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


@pytest.fixture
def no_collected_static(settings: Any, tmp_path: Any) -> None:
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }


def assert_self_contained_page(response: Any, status: int) -> str:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert f"<h1>{PAGE_TITLES[status]}</h1>" in body
    assert "/static/" not in body and "<script" not in body and '<link rel="stylesheet"' not in body
    return body


def assert_envelope(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error_code"] == code and response.json()["detail"]


@pytest.mark.django_db
def test_the_fixture_reproduces_the_missing_manifest_and_the_500_page_still_renders(no_collected_static: None) -> None:
    # The login page needs Bootstrap from the manifest: without collectstatic it cannot render,
    # and what the visitor gets is the self-contained 500 page, not the server's bare error.
    response = Client(raise_request_exception=False).get("/accounts/login/")
    assert_self_contained_page(response, 500)


@pytest.mark.django_db
def test_unknown_page_is_the_404_page_without_static_files(no_collected_static: None, user: Any) -> None:
    client = Client()
    client.force_login(user)
    body = assert_self_contained_page(client.get("/no-such-page/"), 404)
    assert 'href="/"' in body
    # Open paths (no sign-in needed) get the same page.
    assert_self_contained_page(Client().get("/accounts/no-such-page/"), 404)


@pytest.mark.django_db
def test_the_error_pages_style_is_allowed_by_its_hash_only(no_collected_static: None, user: Any) -> None:
    """The Content-Security-Policy forbids inline styles; the error page's own <style> is let
    through by its SHA-256, so the page is styled and no other inline style would be."""
    import base64
    import hashlib
    import re

    client = Client()
    client.force_login(user)
    response = client.get("/no-such-page/")
    css = re.search(r"<style>(.*?)</style>", response.content.decode(), re.S)[1]
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    policy = response["Content-Security-Policy"]
    style_src = re.search(r"style-src ([^;]*)", policy)[1].split()
    assert f"'sha256-{digest}'" in style_src
    assert "'unsafe-inline'" not in policy
    # Any other page keeps the plain policy.
    assert "sha256-" not in client.get("/api/v1/health")["Content-Security-Policy"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/tasks", "/api/"])
def test_unknown_api_path_is_json_404_without_static_files(no_collected_static: None, path: str) -> None:
    assert_envelope(Client().get(path), 404, "NOT_FOUND")


@pytest.mark.django_db
def test_bad_host_is_the_400_page_and_json_under_the_api(no_collected_static: None) -> None:
    client = Client(HTTP_HOST="not-allowed.example")
    assert_self_contained_page(client.get("/accounts/login/"), 400)
    assert_envelope(client.get("/api/v1/tasks"), 400, "BAD_REQUEST")


@pytest.mark.django_db
def test_permission_denied_is_the_403_page(no_collected_static: None, user: Any) -> None:
    client = Client()
    client.force_login(user)
    assert_self_contained_page(client.post("/sync/scheduler/pause/"), 403)


@pytest.mark.django_db
def test_database_outage_is_the_503_page_without_static_files(
    no_collected_static: None, user: Any, monkeypatch: Any
) -> None:
    def down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr("tasks.selectors.task_board_columns", down)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.get("/tasks/board/")
    assert_self_contained_page(response, 503)
    assert response["Retry-After"] == "5"


@pytest.mark.parametrize("status", sorted(PAGE_TITLES))
def test_error_pages_render_without_the_database(status: int) -> None:
    # No django_db mark: any query here fails the test ("Database access not allowed").
    request = RequestFactory().get("/somewhere/")
    if status == 503:
        try:
            raise OperationalError("down")
        except OperationalError:
            response = views.server_error(request)
    elif status == 500:
        response = views.server_error(request)
    else:
        handler = {400: views.bad_request, 403: views.permission_denied, 404: views.page_not_found}[status]
        response = handler(request, Exception("x"))
    assert_self_contained_page(response, status)


@pytest.mark.django_db
def test_a_broken_error_template_gives_a_plain_page_and_api_errors_stay_json(
    no_collected_static: None, user: Any, monkeypatch: Any, caplog: Any
) -> None:
    def broken(*args: Any, **kwargs: Any) -> str:
        raise TemplateDoesNotExist("404.html")

    monkeypatch.setattr("tracker_project.views.loader.render_to_string", broken)
    client = Client()
    client.force_login(user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "<h1>Page not found</h1>" in response.content.decode()
    assert "Error page 404.html could not be rendered" in caplog.text
    assert_envelope(Client().get("/api/v1/nope"), 404, "NOT_FOUND")


@pytest.mark.django_db
def test_api_errors_stay_json_even_when_the_error_handlers_fail(monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("error handler broken")

    monkeypatch.setattr("tracker_project.views.error_page", broken)
    response = Client(raise_request_exception=False).get("/api/v1/nope")
    assert_envelope(response, 500, "INTERNAL_ERROR")
