"""A database outage: pages answer 503 "try again" (not the generic 500), the API its envelope."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

pytestmark = pytest.mark.django_db


def _database_down(*args: Any, **kwargs: Any) -> None:
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")


def test_a_page_during_a_database_outage_is_a_503_try_again_page(user: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("tasks.selectors.task_board_columns", _database_down)
    client = Client(raise_request_exception=False)
    client.force_login(user)

    response = client.get("/tasks/board/")

    assert response.status_code == 503 and response["Retry-After"] == "5"
    body = response.content.decode()
    assert "Temporarily unavailable" in body and "Traceback" not in body and "5432" not in body


def test_any_other_error_keeps_the_generic_500_page(user: Any, monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("tasks.selectors.task_board_columns", broken)
    client = Client(raise_request_exception=False)
    client.force_login(user)

    response = client.get("/tasks/board/")

    assert response.status_code == 500 and "Something went wrong" in response.content.decode()


def test_the_api_during_a_database_outage_answers_503_json(api: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("tasks.selectors.task_api_page", _database_down)
    response = api.get("/api/v1/tasks")
    assert response.status_code == 503
    assert response.json()["error_code"] == "UNAVAILABLE" and response["Retry-After"]
