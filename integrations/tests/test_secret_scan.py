"""No token string anywhere a person or another system could read it: every text column of
every table, the API, the admin pages, the logs, audit rows and SyncRun errors — after the
connections were added, refreshed, refused and synced with."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.utils import timezone
from werkzeug import Response

from accounts.actor import Actor
from integrations.connection_services import connection_create
from integrations.models import Connection, SyncRun
from integrations.tests.oauth_fake import TokenServer
from integrations.tests.test_api_connections import ASANA_PAT, asana_me, platforms, staff_api  # noqa: F401
from sponsors.services import sponsor_sync
from sponsors.tests.factories import SponsorFactory

pytestmark = pytest.mark.django_db

GOOGLE_ACCESS = "ya29.a0-google-access-SECRET-0001"
GOOGLE_REFRESH = "1//0g-google-refresh-SECRET-0002"
CLIENT_SECRET = "GOCSPX-client-secret-SECRET-0003"


def _scan_database(secrets: list[str]) -> list[str]:
    """(table.column) of every stored value holding one of `secrets`."""
    found = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names():
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    text = value.decode(errors="replace") if isinstance(value, bytes | memoryview) else str(value)
                    found += [f"{table}.{column}" for s in secrets if s in text]
    return found


def test_no_secret_is_readable_anywhere(
    staff_api,  # noqa: F811
    platforms,  # noqa: F811
    settings: Any,
    client: Any,
    staff_user: Any,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = platforms.url_for("").rstrip("/")
    settings.GOOGLE_TOKEN_URL = f"{base}/google/token"
    settings.GOOGLE_CLIENT_ID, settings.GOOGLE_CLIENT_SECRET = "google-client", CLIENT_SECRET
    settings.GOOGLE_CALENDAR_BASE_URL = f"{base}/calendar/v3"
    # A token server that first refreshes, then (refresh token revoked) refuses.
    fake = TokenServer(platform="google", refresh_tokens={GOOGLE_REFRESH})
    platforms.expect_request("/google/token", method="POST").respond_with_handler(fake.handle)
    asana_me(platforms)

    # Added through the API (token kind) and through the services (OAuth kind).
    assert (
        staff_api.post("/api/v1/connections", {"platform": "asana", "label": "A", "token": ASANA_PAT}).status_code
        == 201
    )
    google = connection_create(
        platform="google",
        label="Google",
        auth="oauth",
        secrets={"access_token": GOOGLE_ACCESS, "refresh_token": GOOGLE_REFRESH},
        actor=Actor.system_job("tests"),
        account_email="team@example.com",
        expires_at=timezone.now() - dt.timedelta(minutes=1),
    )
    # A platform error that echoes the token back must not carry it further.

    def calendar(request: Any) -> Response:
        body = {"error": {"code": 400, "message": f"Bad header {request.headers['Authorization']}"}}
        return Response(json.dumps(body), status=400, content_type="application/json")

    platforms.expect_request("/calendar/v3/calendars/cal@example.com/events").respond_with_handler(calendar)
    sponsor = SponsorFactory(salesforce_account_id="", asana_project_gid="", google_calendar_id="cal@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        refreshed_run = sponsor_sync(sponsor=sponsor, source="google_calendar", trigger="manual")
    fresh = fake.issued[0]
    fake.refresh_tokens.clear()  # revoked at Google
    Connection.objects.filter(pk=google.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        refused_run = sponsor_sync(sponsor=sponsor, source="google_calendar", trigger="manual")
    call_command("rotate_credentials_key", stdout=open("/dev/null", "w"))

    assert fake.refreshes() == 2
    assert refreshed_run.status == SyncRun.Status.FAILED and "Bad header Bearer [redacted]" in refreshed_run.error
    assert refused_run.status == SyncRun.Status.FAILED and "needs reconnecting" in refused_run.error
    assert Connection.objects.get(pk=google.pk).status == "needs_reconnect"

    secrets = [ASANA_PAT, GOOGLE_ACCESS, GOOGLE_REFRESH, CLIENT_SECRET, fresh]
    # Database: every column of every table (the secrets column holds ciphertext only).
    assert _scan_database(secrets) == []
    # API.
    for path in ["/api/v1/connections", *(f"/api/v1/connections/{c.pk}" for c in Connection.objects.all())]:
        text = staff_api.get(path).content.decode()
        assert not [s for s in secrets if s in text], path
    runs = staff_api.get("/api/v1/sync/runs").content.decode()
    assert "needs reconnecting" in runs and not [s for s in secrets if s in runs]
    # Admin pages.
    client.force_login(staff_user)
    pages = ["/admin/integrations/connection/", "/admin/accounts/auditevent/", "/admin/integrations/syncrun/"]
    pages += [f"/admin/integrations/connection/{c.pk}/change/" for c in Connection.objects.all()]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        text = response.content.decode()
        assert not [s for s in secrets if s in text], page
    change = client.get(f"/admin/integrations/connection/{google.pk}/change/").content.decode()
    assert "access_token: ••••" in change and "refresh_token: ••••" in change
    # Logs.
    assert not [s for s in secrets if s in caplog.text]
