"""Tokens that stay valid: refresh before expiry and once on a 401, rotated refresh tokens
kept, invalid_grant → needs_reconnect (staff told once), one refresh for two workers."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import httpx
import pytest
from django.db import connection as db
from django.db import connections
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Response

from accounts.actor import Actor
from accounts.models import AuditEvent
from integrations.connect import connection_disconnect
from integrations.connection_services import connection_create
from integrations.connectors import get_connector
from integrations.connectors.base import AuthError
from integrations.http import RetryPolicy
from integrations.models import Connection
from integrations.tests.fakes import ACCOUNT, SF_QUERY_PATH, sf_id, sf_page, sf_task
from integrations.tests.oauth_fake import TokenServer
from integrations.tokens import ReconnectNeeded, TokenEndpointError, access_token_for
from tasks.models import Notification

FAST = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, max_retry_after=1.0)
OLD_ACCESS = "ya29.a0-old-access-token-QwErTy"
REFRESH = "1//0g-refresh-token-AbCdEfGh"


def _token_server(platform: HTTPServer, name: str, **options: Any) -> TokenServer:
    fake = TokenServer(platform=name, refresh_tokens={REFRESH}, **options)
    platform.expect_request(f"/{name}/token", method="POST").respond_with_handler(fake.handle)
    return fake


@pytest.fixture
def oauth_settings(settings: Any, platform: HTTPServer) -> Any:
    base = platform.url_for("").rstrip("/")
    settings.GOOGLE_TOKEN_URL = f"{base}/google/token"
    settings.GOOGLE_CLIENT_ID, settings.GOOGLE_CLIENT_SECRET = "google-client", "google-client-secret-XYZ"
    settings.SALESFORCE_LOGIN_URL = f"{base}/salesforce-login"
    settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET = "sf-client", "sf-client-secret-XYZ"
    for name in ("SALESFORCE_INSTANCE_URL", "SALESFORCE_ACCESS_TOKEN", "GOOGLE_ACCESS_TOKEN"):
        setattr(settings, name, "")
    settings.GOOGLE_SERVICE_ACCOUNT_FILE = ""
    return settings


def _connection(platform: str, *, expires_in: float | None, **extra: Any) -> Connection:
    return connection_create(
        platform=platform,
        label=f"{platform} team",
        auth="oauth",
        secrets={"access_token": OLD_ACCESS, "refresh_token": REFRESH},
        actor=Actor.system_job("tests"),
        account_id=f"{platform}-account",
        expires_at=None if expires_in is None else timezone.now() + dt.timedelta(seconds=expires_in),
        **extra,
    )


@pytest.mark.django_db
def test_a_token_about_to_expire_is_refreshed_and_the_refresh_token_kept(oauth_settings, platform):
    fake = _token_server(platform, "google")
    conn = _connection("google", expires_in=60)

    token = access_token_for(conn)

    assert token == fake.issued[0]
    (call,) = fake.calls
    assert call == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": "google-client",
        "client_secret": "google-client-secret-XYZ",
    }
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.access_token == token
    assert stored.refresh_token == REFRESH, "Google sent no new refresh token: the old one stays"
    assert dt.timedelta(minutes=59) < stored.expires_at - timezone.now() <= dt.timedelta(seconds=3599)
    assert stored.last_refreshed_at is not None and stored.status == "connected"
    # Still valid now: no second call.
    assert access_token_for(stored) == token and fake.refreshes() == 1


@pytest.mark.django_db
def test_a_token_far_from_expiry_is_used_as_it_is(oauth_settings, platform):
    fake = _token_server(platform, "google")
    conn = _connection("google", expires_in=3000)
    assert access_token_for(conn) == OLD_ACCESS and fake.calls == []


@pytest.mark.django_db
def test_salesforce_invalid_session_refreshes_once_and_saves_the_rotated_refresh_token(oauth_settings, platform):
    instance = platform.url_for("").rstrip("/")
    fake = TokenServer(platform="salesforce", refresh_tokens={REFRESH}, rotate=True, instance_url=instance)
    platform.expect_request("/salesforce-login/services/oauth2/token", method="POST").respond_with_handler(fake.handle)
    conn = _connection("salesforce", expires_in=None, account_extra={"instance_url": instance})

    def salesforce_api(request: Any) -> Response:
        if request.headers["Authorization"] == f"Bearer {OLD_ACCESS}":
            body = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            return Response(json.dumps(body), status=401, content_type="application/json")
        return Response(json.dumps(sf_page([sf_task(sf_id(1), "Send deck")])), content_type="application/json")

    platform.expect_request(SF_QUERY_PATH).respond_with_handler(salesforce_api)

    connector = get_connector("salesforce", policy=FAST, sleep=lambda s: None)
    records = [r for page in connector.pull(target=ACCOUNT) for r in page.records]

    assert [r.title for r in records] == ["Send deck"]
    assert fake.refreshes() == 1
    calls = [entry[0].headers["Authorization"] for entry in platform.log if entry[0].path == SF_QUERY_PATH]
    assert calls == [f"Bearer {OLD_ACCESS}", f"Bearer {fake.issued[0]}"]
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.access_token == fake.issued[0]
    assert stored.refresh_token == f"5Aep861-rotated-{fake.issued[0]}", "the rotated refresh token is saved"
    assert stored.expires_at is None, "Salesforce sends no expires_in"
    assert stored.instance_url == instance, "the token answer's instance_url is kept"


@pytest.mark.django_db
def test_invalid_grant_marks_needs_reconnect_and_tells_staff_once(
    oauth_settings, platform, staff_user, user, django_capture_on_commit_callbacks
):
    fake = _token_server(platform, "google")
    fake.refresh_tokens.clear()  # revoked
    conn = _connection("google", expires_in=-10)

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ReconnectNeeded, match="needs reconnecting") as excinfo:
            access_token_for(conn)
        with pytest.raises(ReconnectNeeded):
            access_token_for(Connection.objects.get(pk=conn.pk))

    stored = Connection.objects.get(pk=conn.pk)
    assert stored.status == "needs_reconnect"
    assert "invalid_grant" in stored.last_error and "Token has been expired or revoked." in stored.last_error
    assert fake.refreshes() == 1, "a connection marked needs_reconnect is not refreshed again"
    notes = Notification.objects.filter(object_type="integrations.connection", object_id=str(conn.pk))
    assert [n.recipient for n in notes] == [staff_user], "staff, not other users, are told, once"
    assert "needs reconnecting" in notes[0].message
    assert AuditEvent.objects.filter(action="connection.refresh_failed", object_id=str(conn.pk)).count() == 1
    for text in (str(excinfo.value), stored.last_error, notes[0].message):
        assert REFRESH not in text and OLD_ACCESS not in text and "google-client-secret-XYZ" not in text


@pytest.mark.django_db
def test_a_token_endpoint_that_is_down_is_retryable_and_needs_no_reconnect(oauth_settings, platform):
    fake = _token_server(platform, "google", failure_status=503)
    conn = _connection("google", expires_in=-10)

    with pytest.raises(TokenEndpointError) as excinfo:
        access_token_for(conn)

    assert excinfo.value.retryable
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.status == "error" and "HTTP 503" in stored.last_error
    assert fake.refreshes() == 1 and not Notification.objects.exists()


@pytest.mark.django_db
def test_meta_long_lived_token_warns_staff_seven_days_ahead_once(settings, staff_user):
    settings.META_ACCESS_TOKEN = ""
    conn = connection_create(
        platform="meta",
        label="Meta business",
        auth="oauth",
        secrets={"access_token": "EAAB-long-lived-token"},
        actor=Actor.system_job("tests"),
        expires_at=timezone.now() + dt.timedelta(days=5),
    )
    far = connection_create(
        platform="meta",
        label="Other business",
        auth="oauth",
        secrets={"access_token": "EAAB-other-token"},
        actor=Actor.system_job("tests"),
        account_id="other",
        expires_at=timezone.now() + dt.timedelta(days=30),
    )

    assert access_token_for(conn) == "EAAB-long-lived-token"
    assert access_token_for(Connection.objects.get(pk=conn.pk)) == "EAAB-long-lived-token"
    assert access_token_for(far) == "EAAB-other-token"

    (note,) = Notification.objects.filter(object_type="integrations.connection")
    assert note.object_id == str(conn.pk) and "expires on" in note.message


@pytest.mark.django_db
def test_an_expired_meta_token_needs_reconnect(settings, staff_user):
    conn = connection_create(
        platform="meta",
        label="Meta business",
        auth="oauth",
        secrets={"access_token": "EAAB-expired"},
        actor=Actor.system_job("tests"),
        expires_at=timezone.now() - dt.timedelta(minutes=1),
    )
    with pytest.raises(ReconnectNeeded):
        access_token_for(conn)
    assert Connection.objects.get(pk=conn.pk).status == "needs_reconnect"


@pytest.mark.django_db
def test_an_asana_token_refused_with_401_marks_the_connection_for_reconnecting(settings, platform, staff_user):
    settings.ASANA_BASE_URL = platform.url_for("/api/1.0")
    settings.ASANA_ACCESS_TOKEN = ""
    conn = connection_create(
        platform="asana",
        label="Asana",
        auth="token",
        secrets={"access_token": "2/1200-personal-access-token"},
        actor=Actor.system_job("tests"),
    )
    platform.expect_request("/api/1.0/tasks").respond_with_json({"errors": [{"message": "Not Authorized"}]}, status=401)
    connector = get_connector("asana", policy=FAST, sleep=lambda s: None)
    with pytest.raises(AuthError) as excinfo:
        list(connector.pull(target="1200000000000001"))
    assert "needs reconnecting" in str(excinfo.value)
    assert Connection.objects.get(pk=conn.pk).status == "needs_reconnect"


def _disconnect(conn: Connection) -> None:
    """Disconnect through the real service; the platform's revoke endpoint answers 200."""
    connection_disconnect(
        connection=Connection.objects.get(pk=conn.pk),
        actor=Actor.system_job("tests"),
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
    )


@pytest.mark.django_db
def test_a_sync_that_loaded_a_connection_before_disconnect_does_not_mark_it_or_tell_anyone(
    oauth_settings, platform, staff_user, django_capture_on_commit_callbacks
):
    fake = _token_server(platform, "google")
    conn = _connection("google", expires_in=-10)  # loaded by a sync, due a refresh
    _disconnect(conn)

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ReconnectNeeded, match="is disabled"):
            access_token_for(conn, stale_token=OLD_ACCESS)

    stored = Connection.objects.get(pk=conn.pk)
    assert stored.status == "disabled" and stored.last_error == ""
    assert fake.refreshes() == 0 and not Notification.objects.exists()
    assert not AuditEvent.objects.filter(action="connection.refresh_failed").exists()


@pytest.mark.django_db
def test_a_401_on_a_token_connection_disconnected_mid_sync_leaves_it_disabled(
    settings, platform, staff_user, django_capture_on_commit_callbacks
):
    settings.ASANA_BASE_URL = platform.url_for("/api/1.0")
    settings.ASANA_ACCESS_TOKEN = ""
    conn = connection_create(
        platform="asana",
        label="Asana",
        auth="token",
        secrets={"access_token": "2/1200-personal-access-token"},
        actor=Actor.system_job("tests"),
    )
    platform.expect_request("/api/1.0/tasks").respond_with_json({"errors": [{"message": "Not Authorized"}]}, status=401)
    connector = get_connector("asana", policy=FAST, sleep=lambda s: None)
    connector.token()  # the sync started with the token
    _disconnect(conn)

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(AuthError, match="is disabled"):
            list(connector.pull(target="1200000000000001"))

    assert Connection.objects.get(pk=conn.pk).status == "disabled"
    assert not Notification.objects.exists()
    assert not AuditEvent.objects.filter(action="connection.refresh_failed").exists()


@pytest.mark.django_db
def test_the_refresh_failed_audit_row_records_the_status_before(oauth_settings, platform, staff_user):
    fake = _token_server(platform, "google")
    fake.refresh_tokens.clear()
    conn = _connection("google", expires_in=-10)
    Connection.objects.filter(pk=conn.pk).update(status="error", last_error="token endpoint answered HTTP 503")
    conn.refresh_from_db()

    with pytest.raises(ReconnectNeeded):
        access_token_for(conn)

    event = AuditEvent.objects.get(action="connection.refresh_failed", object_id=str(conn.pk))
    assert event.changes["status"] == ["error", "needs_reconnect"]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_refresh_a_connection_once(oauth_settings, platform):
    hold = threading.Event()
    fake = _token_server(platform, "google", hold=hold)
    conn = _connection("google", expires_in=30)
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            results[name] = access_token_for(Connection.objects.get(pk=conn.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    # Wait until one worker is at the token endpoint and the other waits for the row lock.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            waiting = cursor.fetchone()[0]
        if waiting >= 1 and fake.calls:
            break
        time.sleep(0.02)
    hold.set()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert fake.refreshes() == 1, "the second worker used the token the first one stored"
    assert results["a"] == results["b"] == fake.issued[0]
    assert Connection.objects.get(pk=conn.pk).access_token == fake.issued[0]
