"""MFA_REQUIRED_FOR_STAFF: staff without a second factor are sent to set one up (issue 17, part 3).

Every dashboard and admin page redirects such a user to allauth's authenticator-app page; the
API refuses their session with 403 MFA_REQUIRED, while their API key keeps working. Setting the
authenticator up through the real allauth page (the code computed from the secret it shows)
opens everything again.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.test import Client
from django.urls import reverse

from accounts.actor import Actor
from accounts.services import api_key_create

pytestmark = pytest.mark.django_db

SETUP_URL = "/accounts/2fa/totp/activate/"
REAUTH_URL = "/accounts/reauthenticate/?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F"
PAGES = ["/", "/tasks/board/", "/tasks/", "/sponsors/", "/settings/", "/audit/", "/admin/", "/admin/tasks/task/"]


@pytest.fixture
def required(settings: Any) -> None:
    settings.MFA_REQUIRED_FOR_STAFF = True


def _signed_in(user: Any, password: str) -> Client:
    """Signed in through the real login form (allauth then counts the login as recent, which its
    set-up page asks for)."""
    client = Client()
    response = client.post(reverse("account_login"), {"login": user.username, "password": password})
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.mark.parametrize("path", PAGES)
def test_staff_without_mfa_is_sent_to_set_it_up(required: None, staff_user: Any, path: str) -> None:
    client = _signed_in(staff_user, "pw-sam-123!")
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == SETUP_URL


def test_the_setup_page_says_why_and_shows_the_qr_code(required: None, staff_user: Any) -> None:
    client = _signed_in(staff_user, "pw-sam-123!")
    response = client.get("/", follow=True)
    # allauth asks for the password again before a second factor is added, then shows the page.
    first_hop, final = response.redirect_chain[0][0], response.redirect_chain[-1][0]
    assert first_hop == SETUP_URL
    assert final == REAUTH_URL
    assert "Staff accounts must set up two-factor authentication" in response.content.decode()
    response = client.post(REAUTH_URL, {"password": "pw-sam-123!"}, follow=True)
    assert response.redirect_chain[-1][0] == SETUP_URL and response.status_code == 200
    text = response.content.decode()
    assert 'name="code"' in text and "data:image/svg+xml;base64," in text


def test_staff_can_still_sign_out_and_reach_account_pages(required: None, staff_user: Any) -> None:
    client = _signed_in(staff_user, "pw-sam-123!")
    assert client.get(reverse("account_change_password")).status_code == 200
    assert client.get("/health").status_code in (200, 503)
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # now to the login page
    assert client.get("/")["Location"].startswith(reverse("account_login"))


def test_an_htmx_request_moves_the_whole_page(required: None, staff_user: Any) -> None:
    client = _signed_in(staff_user, "pw-sam-123!")
    response = client.get("/tasks/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == SETUP_URL


def test_setting_up_the_authenticator_app_opens_every_page(required: None, staff_user: Any, settings: Any) -> None:
    # One step either side, so a code computed just before a 30-second boundary still counts.
    settings.MFA_TOTP_TOLERANCE = 1
    client = _signed_in(staff_user, "pw-sam-123!")
    assert client.post(REAUTH_URL, {"password": "pw-sam-123!"}).status_code == 302
    assert client.get(SETUP_URL).status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = client.post(SETUP_URL, {"code": code})
    assert response.status_code == 302, response.content[:800]
    assert staff_user.authenticator_set.filter(type="totp").exists()
    for path in PAGES:
        assert client.get(path).status_code == 200, path


def test_off_by_default_and_never_for_non_staff(settings: Any, staff_user: Any, user: Any) -> None:
    assert settings.MFA_REQUIRED_FOR_STAFF is False
    assert _signed_in(staff_user, "pw-sam-123!").get("/").status_code == 200
    settings.MFA_REQUIRED_FOR_STAFF = True
    client = _signed_in(user, "pw-alice-123!")
    assert client.get("/").status_code == 200
    assert client.get("/tasks/board/").status_code == 200


def test_staff_with_an_authenticator_app_is_let_through(required: None, staff_user: Any) -> None:
    TOTP.activate(staff_user, generate_totp_secret())
    client = Client()
    client.force_login(staff_user)
    assert client.get("/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_recovery_codes_alone_do_not_count(required: None, staff_user: Any) -> None:
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    RecoveryCodes.activate(staff_user)
    client = Client()
    client.force_login(staff_user)
    assert client.get("/")["Location"] == SETUP_URL


def test_the_api_refuses_the_session_but_not_the_api_key(required: None, staff_user: Any) -> None:
    _, raw = api_key_create(user=staff_user, name="ci", actor=Actor.system_job("tests"))
    client = Client()
    client.force_login(staff_user)

    response = client.get("/api/v1/me")
    assert response.status_code == 403
    assert response.json()["error_code"] == "MFA_REQUIRED"
    assert "two-factor" in response.json()["detail"]
    # Staff-only endpoint, by session: refused the same way; by key: allowed.
    assert client.get("/api/v1/audit").json()["error_code"] == "MFA_REQUIRED"
    assert Client().get("/api/v1/audit", HTTP_X_API_KEY=raw).status_code == 200
    assert Client().get("/api/v1/me", HTTP_X_API_KEY=raw).json()["username"] == "sam"
    # A made-up key next to the session does not get the session through.
    assert client.get("/api/v1/me", HTTP_X_API_KEY="trk_not-a-key").json()["error_code"] == "MFA_REQUIRED"
    # Health stays open.
    assert client.get("/api/v1/health").status_code in (200, 503)


def test_the_api_docs_stay_open_but_the_session_cannot_call_the_api(required: None, staff_user: Any) -> None:
    """The docs and the schema are public (they hold no data), so a staff member without MFA can
    read them like anyone; calling the API with that session is what MFA_REQUIRED_FOR_STAFF stops."""
    _, raw = api_key_create(user=staff_user, name="docs", actor=Actor.system_job("tests"))
    client = Client()
    client.force_login(staff_user)
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    response = client.get("/api/v1/me")
    assert response.status_code == 403 and response.json()["error_code"] == "MFA_REQUIRED"
    assert Client().get("/api/v1/me", HTTP_X_API_KEY=raw).status_code == 200
