"""API authentication: X-API-Key header or session + CSRF; open health endpoints; hashed keys."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import ApiKey, AuditEvent
from accounts.services import api_key_authenticate, api_key_create, api_key_revoke
from conftest import ApiClient

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks"


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "error_code"}
    assert body["error_code"] == code
    return body


# --- API keys ---------------------------------------------------------------------------------


def test_no_credentials_is_401(anon_api: ApiClient) -> None:
    for response in (anon_api.get(TASKS), anon_api.post(TASKS, {"title": "x"}), anon_api.get("/api/v1/me")):
        assert_error(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize("key", ["nope", "trk_" + "x" * 43, "", "a\x00b", "é" * 300, "x" * 10_000])
def test_bad_key_is_401(key: str) -> None:
    response = Client().get(TASKS, HTTP_X_API_KEY=key)
    assert_error(response, 401, "UNAUTHORIZED")


def test_valid_key_works_and_identifies_the_user(api: ApiClient) -> None:
    response = api.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json() == {"username": "alice", "email": "alice@example.com", "is_staff": False, "api_key": "tests"}


def test_revoked_key_is_401(user: Any) -> None:
    key, raw = api_key_create(user=user, name="old", actor=Actor.system_job("tests"))
    assert ApiClient(raw).get(TASKS).status_code == 200

    api_key_revoke(api_key=key, actor=Actor.system_job("tests"))

    assert_error(ApiClient(raw).get(TASKS), 401, "UNAUTHORIZED")
    assert AuditEvent.objects.filter(action="api_key.revoke", object_id=str(key.pk)).exists()


def test_key_of_inactive_user_is_401(user: Any, api: ApiClient) -> None:
    user.is_active = False
    user.save()
    assert_error(api.get(TASKS), 401, "UNAUTHORIZED")


def test_keys_are_stored_hashed(user: Any) -> None:
    key, raw = api_key_create(user=user, name="hashed", actor=Actor.system_job("tests"))

    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert raw not in {str(v) for v in row.values()}
    assert row["key_hash"] != raw and len(row["key_hash"]) == 64
    assert raw.startswith(row["prefix"]) and len(row["prefix"]) < len(raw) // 4
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apikey")
        assert not any(raw in str(value) for record in cursor.fetchall() for value in record)
    assert not any(raw in str(e.changes) + e.object_repr for e in AuditEvent.objects.all())


def test_key_is_compared_in_constant_time(user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, raw = api_key_create(user=user, name="timing", actor=Actor.system_job("tests"))
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("accounts.services.hmac.compare_digest", spy)

    assert api_key_authenticate(raw) is not None
    assert calls and all(len(a) == 64 and raw not in (a, b) for a, b in calls)


def test_key_auth_is_one_query(api: ApiClient) -> None:
    api.get(TASKS)  # refreshes last_used_at (at most once a minute)
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/v1/me").status_code == 200
    # the key (with its user) + the rate-limit counter; /me itself reads nothing
    assert len(queries.captured_queries) == 2, [q["sql"] for q in queries.captured_queries]
    assert "accounts_apikey" in queries.captured_queries[0]["sql"]


def test_last_used_at_is_refreshed_at_most_once_a_minute(user: Any) -> None:
    key, raw = api_key_create(user=user, name="touch", actor=Actor.system_job("tests"))
    api_key_authenticate(raw)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    api_key_authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - dt.timedelta(minutes=5))
    api_key_authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at > first - dt.timedelta(seconds=1)


def test_api_key_needs_no_csrf_token(api_key: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(TASKS, {"title": "by key"}, content_type="application/json", HTTP_X_API_KEY=api_key)
    assert response.status_code == 201


# --- session ----------------------------------------------------------------------------------


def test_session_cookie_works_for_get(web: Client) -> None:
    response = web.get(TASKS)
    assert response.status_code == 200
    assert web.get("/api/v1/me").json()["username"] == "alice"


def test_session_post_without_csrf_token_is_403(user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    for response in (
        client.post(TASKS, {"title": "no token"}, content_type="application/json"),
        client.delete(f"{TASKS}/00000000-0000-0000-0000-000000000000"),
    ):
        body = assert_error(response, 403, "FORBIDDEN")
        assert "CSRF" in body["detail"]


def _csrf_token(client: Client) -> str:
    # The API docs page renders a CSRF token (for its "Try it out" requests) and sets the cookie.
    assert client.get("/api/v1/docs").status_code == 200
    return client.cookies["csrftoken"].value


def test_session_post_with_csrf_token_is_201(user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    token = _csrf_token(client)

    response = client.post(TASKS, {"title": "with token"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 201, response.content
    event = AuditEvent.objects.get(action="task.create")
    assert event.actor_label == "alice" and event.origin == "api" and event.api_key_name == ""


def test_session_with_wrong_csrf_token_is_403(user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    _csrf_token(client)
    response = client.post(TASKS, {"title": "x"}, content_type="application/json", HTTP_X_CSRFTOKEN="w" * 32)
    assert_error(response, 403, "FORBIDDEN")


def test_logged_out_session_is_401(client: Client, user: Any) -> None:
    client.force_login(user)
    client.logout()
    assert_error(client.get(TASKS), 401, "UNAUTHORIZED")


# --- docs ---------------------------------------------------------------------------------------


def test_schema_and_docs_are_open_but_the_operations_are_not(client: Client, api_key: Any) -> None:
    """The schema holds no data: anyone may read it and the docs (a key holder needs them to use
    "Authorize"); a wrong key on the schema changes nothing, and the operations still refuse it."""
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/openapi.json", HTTP_X_API_KEY="trk_not-a-key").status_code == 200
    assert client.get("/api/v1/docs").status_code == 200
    assert_error(client.get(TASKS), 401, "UNAUTHORIZED")
    assert_error(client.get(TASKS, HTTP_X_API_KEY="trk_not-a-key"), 401, "UNAUTHORIZED")
    assert client.get(TASKS, HTTP_X_API_KEY=api_key).status_code == 200


def test_openapi_documents_the_api_key_header_for_the_authorize_button(client: Client, user: Any) -> None:
    client.force_login(user)
    schema = client.get("/api/v1/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"} in schemes.values()
    header_scheme = next(name for name, s in schemes.items() if s.get("in") == "header")
    tasks_get = schema["paths"]["/api/v1/tasks"]["get"]
    assert {header_scheme: []} in tasks_get["security"]
    assert "security" not in schema["paths"]["/api/v1/health"]["get"]


def test_docs_page_renders_swagger(client: Client, user: Any) -> None:
    client.force_login(user)
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    assert b"/api/v1/openapi.json" in response.content


# --- health -------------------------------------------------------------------------------------


def _heartbeat(age: dt.timedelta = dt.timedelta(0)) -> None:
    """Save a cluster status the way a running django-q2 cluster does (through the broker)."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage
    from django_q.status import Stat, Status

    status = Status(pid=4242, cluster_id="tests-cluster")
    status.timestamp = timezone.now() - age
    get_broker().set_stat(Stat.get_key("tests-cluster"), SignedPackage.dumps(status, True), 30)


@pytest.mark.parametrize("path", ["/health", "/api/v1/health"])
def test_health_is_open_and_reports_cluster_down_without_heartbeat(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cluster": "down"}


@pytest.mark.parametrize("path", ["/health", "/api/v1/health"])
def test_health_reports_cluster_ok_with_a_fresh_heartbeat(client: Client, path: str) -> None:
    _heartbeat()
    assert client.get(path).json() == {"status": "ok", "database": "ok", "cluster": "ok"}


def test_health_reports_cluster_down_with_a_stale_heartbeat(client: Client) -> None:
    _heartbeat(age=dt.timedelta(minutes=10))
    assert client.get("/health").json()["cluster"] == "down"


def test_health_reports_database_error_as_503(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import OperationalError

    class BrokenConnection:
        def cursor(self) -> Any:
            raise OperationalError("connection refused")

    monkeypatch.setattr("tracker_project.health.connection", BrokenConnection())
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error", "cluster": "down"}
