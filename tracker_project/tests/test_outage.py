"""A database or Redis outage: pages answer 503 "try again" (not the generic 500), the API its
envelope; while only Redis is down the API keeps answering from the database."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.db import OperationalError
from django.test import Client
from django.test.utils import override_settings

from conftest import ApiClient

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


# --- Redis (REDIS_URL: the cache holding rate limits, sign-in limits and the key generation) ---


def _redis_cache(location: str, timeout: float = 0.5) -> dict[str, Any]:
    options = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
    return {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location, "OPTIONS": options}
    }


@pytest.fixture
def redis_refusing() -> Iterator[None]:
    """The cache points at a port nobody listens on: every Redis call is refused, as while the
    server restarts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with override_settings(CACHES=_redis_cache(f"redis://127.0.0.1:{port}/0")):
        yield


@pytest.fixture
def redis_silent() -> Iterator[None]:
    """The cache points at a socket that accepts connections and never answers: a hung Redis."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        with override_settings(CACHES=_redis_cache(f"redis://127.0.0.1:{server.getsockname()[1]}/0")):
            yield


def test_the_api_keeps_answering_while_redis_is_down(api_key: str, settings: Any, redis_refusing: None) -> None:
    settings.API_RATE_LIMIT = "2/60"
    api = ApiClient(api_key)
    statuses = [api.get("/api/v1/tasks").status_code for _ in range(4)]
    # Authenticated from the database, not counted (a restart must not take the API down).
    assert statuses == [200, 200, 200, 200]
    assert api.get("/api/v1/tasks", HTTP_X_API_KEY="trk_wrong").status_code == 401


def test_the_api_keeps_answering_while_redis_does_not_reply(api_key: str, settings: Any, redis_silent: None) -> None:
    settings.API_RATE_LIMIT = "2/60"
    assert ApiClient(api_key).get("/api/v1/tasks").status_code == 200


def test_a_signed_in_session_keeps_working_while_redis_is_down(web: Client, redis_refusing: None) -> None:
    assert web.get("/api/v1/tasks").status_code == 200
    assert web.get("/tasks/").status_code == 200


def test_signing_in_while_redis_is_down_is_a_503_try_again_page(user: Any, redis_refusing: None) -> None:
    # The sign-in rate limits live in Redis: without them sign-in is refused, not unguarded.
    client = Client(raise_request_exception=False)
    response = client.post("/accounts/login/", {"login": "alice", "password": "pw-alice-123!"})
    assert response.status_code == 503 and response["Retry-After"] == "5"
    body = response.content.decode()
    assert "Temporarily unavailable" in body and "Traceback" not in body and "Connection refused" not in body


def test_an_api_call_needing_redis_while_it_is_down_answers_503_json(api: Any, monkeypatch: Any) -> None:
    def redis_down(*args: Any, **kwargs: Any) -> None:
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("tasks.selectors.task_api_page", redis_down)
    response = api.get("/api/v1/tasks")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json() == {
        "detail": "A backing service is unavailable; retry shortly.",
        "error_code": "UNAVAILABLE",
    }
