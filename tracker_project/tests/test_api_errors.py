"""Every API failure is the JSON envelope {"detail": ..., "error_code": ...}."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conftest import ApiClient
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def assert_envelope(response: Any, status: int, code: str) -> Any:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "error_code"}
    assert body["error_code"] == code
    assert body["detail"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/tasks//", "/api/v2/tasks", "/api/", "/api/v1/tasks/x/y/z"])
def test_unknown_api_path_is_404_json(api: ApiClient, path: str) -> None:
    assert_envelope(api.get(path), 404, "NOT_FOUND")
    assert_envelope(Client().get(path), 404, "NOT_FOUND")


def test_wrong_method_is_405_json(api: ApiClient) -> None:
    task = TaskFactory()
    response = api.delete("/api/v1/tasks")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response["Allow"] and "POST" in response["Allow"]
    assert_envelope(api.get(f"/api/v1/tasks/{task.pk}/move"), 405, "METHOD_NOT_ALLOWED")
    assert_envelope(api.post(f"/api/v1/tasks/{task.pk}"), 405, "METHOD_NOT_ALLOWED")


def test_401_403_409_422_429_are_json(api: ApiClient, anon_api: ApiClient, user: Any, settings: Any) -> None:
    assert_envelope(anon_api.get("/api/v1/tasks"), 401, "UNAUTHORIZED")

    session = Client(enforce_csrf_checks=True)
    session.force_login(user)
    assert_envelope(session.post("/api/v1/tasks", {"title": "x"}, content_type="application/json"), 403, "FORBIDDEN")
    assert_envelope(api.get("/api/v1/audit"), 403, "FORBIDDEN")

    task = TaskFactory()
    body = assert_envelope(api.post(f"/api/v1/tasks/{task.pk}/move", {"after_id": str(task.pk)}), 409, "CONFLICT")
    assert isinstance(body["detail"], str)

    body = assert_envelope(api.post("/api/v1/tasks", {"title": ""}), 422, "VALIDATION_ERROR")
    assert body["detail"][0]["loc"] == ["body", "title"]

    settings.API_RATE_LIMIT = "1/3600"
    api.get("/api/v1/tasks")
    response = api.get("/api/v1/tasks")
    assert_envelope(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1


def test_body_too_large_is_413_json(api: ApiClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/api/v1/tasks", {"title": "x", "description": "d" * 5000})
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_unexpected_errors_are_500_json_and_logged(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def boom(**kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("tasks.selectors.task_api_page", boom)
    body = assert_envelope(api.get("/api/v1/tasks"), 500, "INTERNAL_ERROR")
    assert "boom" not in body["detail"]
    assert "Unhandled API error on GET /api/v1/tasks" in caplog.text


def test_database_outage_is_503_json(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import OperationalError

    def down(**kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("tasks.selectors.task_api_page", down)
    response = api.get("/api/v1/tasks")
    assert_envelope(response, 503, "UNAVAILABLE")
    assert response["Retry-After"]


def test_errors_outside_the_api_are_not_rewritten(web: Client) -> None:
    response = web.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
