"""The conventions clients bring from other task APIs: trailing slashes, /docs and /redoc, an
open schema whose "Authorize" works with an API key, and 422 for unknown query parameters."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from accounts.actor import Actor
from accounts.services import api_key_create
from conftest import ApiClient
from sponsors.models import Sponsor
from tasks.models import Task
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks"


def assert_error(response: Any, status: int, code: str) -> Any:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error_code"] == code
    return body


# --- trailing slashes -----------------------------------------------------------------------


def test_every_task_operation_answers_with_a_trailing_slash_without_redirecting(api: ApiClient) -> None:
    created = api.post(f"{TASKS}/", {"title": "Slash client", "priority": "high"})
    assert created.status_code == 201, created.content
    task_id = created.json()["id"]
    assert Task.objects.get(pk=task_id).title == "Slash client"

    one = api.get(f"{TASKS}/{task_id}/")
    assert one.status_code == 200
    assert one.content == api.get(f"{TASKS}/{task_id}").content

    listed = api.get(f"{TASKS}/", {"priority": "high"})
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [task_id]

    patched = api.patch(f"{TASKS}/{task_id}/", {"title": "Renamed"})
    assert patched.status_code == 200 and patched.json()["title"] == "Renamed"
    put = api.put(f"{TASKS}/{task_id}/", {"notes": "via PUT"})
    assert put.status_code == 200
    moved = api.post(f"{TASKS}/{task_id}/move/", {"status": "in_progress"})
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    assert api.get(f"{TASKS}/{task_id}/history/").status_code == 200
    Task.objects.get(pk=task_id, title="Renamed", notes="via PUT", status="in_progress")

    assert api.delete(f"{TASKS}/{task_id}/").status_code == 204
    assert not Task.objects.filter(pk=task_id).exists()


def test_a_trailing_slash_changes_nothing_about_auth_and_csrf(user: Any) -> None:
    assert_error(Client().post(f"{TASKS}/", {"title": "x"}, content_type="application/json"), 401, "UNAUTHORIZED")
    session = Client(enforce_csrf_checks=True)
    session.force_login(user)
    body = assert_error(session.post(f"{TASKS}/", {"title": "x"}, content_type="application/json"), 403, "FORBIDDEN")
    assert "CSRF" in body["detail"]
    assert not Task.objects.exists()


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v1/tasks//", "/api/v1/", "/api/v1/tasks/x/y/z/"])
def test_unknown_paths_with_a_trailing_slash_are_still_404(api: ApiClient, path: str) -> None:
    assert_error(api.get(path), 404, "NOT_FOUND")


def test_the_schema_lists_each_path_once_without_the_slash() -> None:
    paths = list(Client().get("/api/v1/openapi.json").json()["paths"])
    assert f"{TASKS}" in paths and f"{TASKS}/{{task_id}}" in paths
    assert [p for p in paths if p.endswith("/")] == []


def test_dashboard_pages_keep_their_own_slash_rule(web: Client) -> None:
    assert web.get("/tasks/").status_code == 200
    response = web.get("/tasks")
    assert response.status_code == 301 and response["Location"] == "/tasks/"


# --- docs and schema ------------------------------------------------------------------------


def _static_sources(html: str) -> list[str]:
    """The static files a page loads (paths under STATIC_URL)."""
    return re.findall(r'(?:src|href)="' + re.escape(settings.STATIC_URL) + r'([^"]+)"', html)


@pytest.mark.parametrize("path", ["/docs", "/docs/", "/api/v1/docs", "/api/v1/docs/"])
def test_swagger_docs_open_without_signing_in(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "/api/v1/openapi.json" in html
    assets = _static_sources(html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert all(finders.find(asset) for asset in assets), assets


@pytest.mark.parametrize("path", ["/redoc", "/redoc/"])
def test_redoc_opens_without_signing_in_from_self_hosted_assets(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    assert "<script>" not in html  # no inline script: a strict script-src policy still allows the page
    assets = _static_sources(html)
    assert {"ninja/redoc.standalone.js", "js/redoc-init.js"} <= set(assets)
    assert all(finders.find(asset) for asset in assets), assets
    assert "https://" not in re.sub(r"<noscript>.*?</noscript>", "", html, flags=re.S)


def test_docs_pages_take_no_unsafe_methods(client: Client) -> None:
    assert client.post("/redoc").status_code in (403, 405)
    assert Client().delete("/docs").status_code in (403, 405)


def test_schema_is_open_and_authorize_with_an_api_key_works(api_key: str) -> None:
    visitor = Client()
    response = visitor.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    schemes = schema["components"]["securitySchemes"]
    name, header = next((n, s) for n, s in schemes.items() if s.get("in") == "header")
    assert header == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert {name: []} in schema["paths"][TASKS]["get"]["security"]
    # What Swagger UI sends after "Authorize": the key in that header, nothing else.
    assert visitor.get(TASKS, HTTP_X_API_KEY=api_key).status_code == 200
    assert_error(visitor.get(TASKS), 401, "UNAUTHORIZED")


def test_every_operation_still_needs_a_key_or_a_session() -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    checked = 0
    for path, item in schema["paths"].items():
        concrete = re.sub(r"\{\w+\}", lambda m: str(uuid.uuid4()) if "task" in m[0] else "1", path)
        for method, operation in item.items():
            if path == "/api/v1/health":
                assert "security" not in operation
                continue
            response = getattr(Client(), method)(concrete, content_type="application/json")
            assert response.status_code == 401, f"{method.upper()} {path} -> {response.status_code}"
            checked += 1
    assert checked > 30


# --- unknown query parameters ---------------------------------------------------------------


@pytest.fixture
def staff_api(staff_user: Any) -> ApiClient:
    _, raw = api_key_create(user=staff_user, name="staff", actor=Actor.system_job("tests"))
    return ApiClient(raw)


def _list_paths() -> list[str]:
    sponsor = Sponsor.objects.create(name="Acme")
    task = TaskFactory(sponsor=sponsor)
    return [
        TASKS,
        f"{TASKS}/{task.pk}/history",
        "/api/v1/notifications",
        "/api/v1/audit",
        "/api/v1/sponsors",
        f"/api/v1/sponsors/{sponsor.pk}/tasks",
        "/api/v1/sync/runs",
        "/api/v1/sync/connectors",
        "/api/v1/campaigns",
        "/api/v1/campaigns/summary",
        "/api/v1/campaigns/insights",
        "/api/v1/campaigns/alerts",
        "/api/v1/leads",
        "/api/v1/leads/conflicts",
    ]


def test_every_list_refuses_an_unknown_query_parameter(staff_api: ApiClient) -> None:
    for path in _list_paths():
        assert staff_api.get(path).status_code == 200, path
        body = assert_error(staff_api.get(path, {"sponsor": "1"}), 422, "VALIDATION_ERROR")
        assert body["detail"][0]["loc"] == ["query", "sponsor"], path
        assert "'sponsor'" in body["detail"][0]["msg"]


def test_task_list_names_the_misspelt_filter_instead_of_returning_every_task(api: ApiClient) -> None:
    sponsor = Sponsor.objects.create(name="Acme")
    TaskFactory(sponsor=sponsor)
    TaskFactory()
    body = assert_error(api.get(TASKS, {"sponsor": sponsor.pk, "statuss": "todo"}), 422, "VALIDATION_ERROR")
    assert [d["loc"] for d in body["detail"]] == [["query", "sponsor"], ["query", "statuss"]]
    assert "sponsor_id" in body["detail"][0]["msg"]  # the message lists what the endpoint takes
    # The fast read path still answers the spelling it knows.
    assert api.get(TASKS, {"sponsor_id": sponsor.pk}).json()["count"] == 1


def test_every_get_with_query_parameters_in_the_schema_refuses_unknown_ones(staff_api: ApiClient) -> None:
    """A list endpoint added later with a query schema cannot forget the check."""
    _list_paths()
    schema = Client().get("/api/v1/openapi.json").json()
    for path, item in schema["paths"].items():
        operation = item.get("get")
        if not operation or not any(p["in"] == "query" for p in operation.get("parameters", [])):
            continue
        concrete = re.sub(r"\{\w+\}", str(Sponsor.objects.get().pk), path)  # the check comes first
        response = staff_api.get(concrete, {"no_such_filter": "1"})
        assert response.status_code == 422, f"GET {path} -> {response.status_code}"
