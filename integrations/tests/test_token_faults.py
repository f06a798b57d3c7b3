"""A token refresh that meets a fault at the token endpoint (404, 500, no answer in time,
malformed JSON, JSON that is not an object) raises TokenEndpointError with the reason and keeps
the stored tokens: nothing is overwritten, the connection is not sent to "reconnect", and the
failure is recorded on it. The endpoint is faked on 127.0.0.1 (RFC 6749 section 5.1: a token
answer is a JSON object)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from accounts.actor import Actor
from integrations.connection_services import connection_create
from integrations.models import Connection
from integrations.tests.faults import FAULTS, Hang, serve_fault
from integrations.tokens import TokenEndpointError, access_token_for

pytestmark = pytest.mark.django_db
OLD_ACCESS = "ya29.a0-old-access-token-QwErTy"
REFRESH = "1//0g-refresh-token-AbCdEfGh"


@pytest.mark.parametrize("fault", FAULTS)
def test_a_token_endpoint_fault_keeps_the_stored_tokens(
    settings: Any, platform: HTTPServer, fault: str, hang: Hang
) -> None:
    settings.GOOGLE_TOKEN_URL = platform.url_for("/google/token")
    settings.GOOGLE_CLIENT_ID, settings.GOOGLE_CLIENT_SECRET = "google-client", "google-client-secret-XYZ"
    settings.SYNC_HTTP_TIMEOUT = 0.5
    conn = connection_create(
        platform="google",
        label="google team",
        auth="oauth",
        secrets={"access_token": OLD_ACCESS, "refresh_token": REFRESH},
        actor=Actor.system_job("tests"),
        account_id="google-account",
        expires_at=timezone.now() - dt.timedelta(seconds=10),
    )
    serve_fault(platform, "/google/token", fault, hang=hang, method="POST")

    with pytest.raises(TokenEndpointError) as excinfo:
        access_token_for(conn)

    assert "token refresh failed" in str(excinfo.value)
    stored = Connection.objects.get(pk=conn.pk)
    assert (stored.access_token, stored.refresh_token) == (OLD_ACCESS, REFRESH)
    assert stored.status != Connection.Status.NEEDS_RECONNECT
    assert stored.last_error == str(excinfo.value)
