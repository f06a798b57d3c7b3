"""Connecting accounts from the Connections page, through a local fake of each platform's OAuth
server (integrations/tests/oauth_consent_fake.py): the real views, the real oauthlib requests,
the real HTTP round trips; only the platform is fake."""

from __future__ import annotations

import html as html_lib
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.models import AuditEvent
from integrations import oauth
from integrations.models import Connection
from integrations.tests.oauth_consent_fake import DEFAULT_USERS, FakeOAuthPlatforms, s256

pytestmark = pytest.mark.django_db

PLATFORMS = ["salesforce", "google", "asana", "meta", "tiktok"]
LABELS = {"salesforce": "Salesforce", "google": "Google", "asana": "Asana", "meta": "Meta", "tiktok": "TikTok"}


def start(client: Client, platform: str, **data: Any) -> str:
    """Press Connect (or Reconnect): the consent page URL the browser is sent to."""
    response = client.post(f"/connections/{platform}/connect", data)
    assert response.status_code == 302, response.content
    return response["Location"]


def finish(client: Client, callback_url: str) -> Any:
    """The browser arriving back from the platform; follows to the Connections page."""
    parts = urlsplit(callback_url)
    assert parts.path.startswith("/connections/") and parts.path.endswith("/callback")
    response = client.get(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}, follow=True)
    assert response.redirect_chain[-1][0] == "/connections/"
    return response


def page_text(response: Any) -> str:
    return html_lib.unescape(response.content.decode())


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def assert_no_token_anywhere(fake: FakeOAuthPlatforms) -> None:
    """No token the fake issued is in any audit row or in a connection's stored columns."""
    tokens = list(fake.tokens)
    assert tokens
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    dumped += json.dumps(list(Connection.objects.values()), default=str)
    for token in tokens:
        assert token not in dumped


@pytest.mark.parametrize("platform", PLATFORMS)
def test_connect_round_trip_saves_an_encrypted_connection(staff_web, oauth_fake, platform):
    consent = start(staff_web, platform)
    params = query(consent)
    assert params["state"] and params["redirect_uri"] == f"http://testserver/connections/{platform}/callback"
    if platform in ("salesforce", "google", "asana"):
        assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    else:
        assert "code_challenge" not in params

    response = finish(staff_web, oauth_fake.approve(consent))

    html = page_text(response)
    assert f"Connected {LABELS[platform]}" in html
    connection = Connection.objects.get()
    assert connection.platform == platform and connection.status == "connected" and connection.auth == "oauth"
    assert f'data-connection-id="{connection.pk}"' in html
    live = oauth_fake.live_tokens(platform)
    assert connection.access_token in live, "the token the platform issued is the one stored"
    assert connection.access_token not in connection.secrets_encrypted
    token_calls = oauth_fake.calls_to(platform, "access_token" if platform in ("meta", "tiktok") else "token")
    if platform in ("salesforce", "google", "asana"):
        # The fake checked BASE64URL(SHA256(verifier)) against the challenge of the consent URL.
        assert s256(token_calls[0]["code_verifier"]) == params["code_challenge"]
        assert connection.refresh_token in live
    event = AuditEvent.objects.get(action="connection.create")
    assert event.object_id == str(connection.pk)
    assert_no_token_anywhere(oauth_fake)


def test_each_platform_gets_its_identity_scopes_and_expiry(staff_web, oauth_fake):
    for platform in PLATFORMS:
        finish(staff_web, oauth_fake.approve(start(staff_web, platform)))
    by = {c.platform: c for c in Connection.objects.all()}

    sf = by["salesforce"]
    assert sf.account_id == f"{DEFAULT_USERS['salesforce']['organization_id']}/{DEFAULT_USERS['salesforce']['user_id']}"
    assert sf.instance_url == "https://acme.my.salesforce.com" and sf.expires_at is None
    assert sf.scopes == ["refresh_token", "api"]
    google = by["google"]
    assert google.account_id == DEFAULT_USERS["google"]["sub"] and google.account_email == "sam@acme.example"
    assert "https://www.googleapis.com/auth/adwords" in google.scopes and google.expires_at is not None
    consent = query(start(staff_web, "google"))
    assert consent["access_type"] == "offline" and consent["prompt"] == "consent"
    assert "https://www.googleapis.com/auth/calendar.readonly" in consent["scope"].split()
    asana = by["asana"]
    assert asana.account_id == DEFAULT_USERS["asana"]["gid"] and asana.account_extra["workspaces"][0]["name"] == "Acme"
    meta = by["meta"]
    assert meta.account_name == "Sam Admin" and "ads_read" in meta.scopes
    # The dialog's short-lived token was exchanged for the long-lived one, which is stored.
    exchange = [c for c in oauth_fake.calls_to("meta", "access_token") if c.get("grant_type") == "fb_exchange_token"]
    assert len(exchange) == 1 and meta.access_token.startswith("meta-long-")
    assert meta.expires_at is not None and (meta.expires_at - meta.connected_at).days >= 59
    tiktok = by["tiktok"]
    assert tiktok.account_extra["advertiser_ids"] == DEFAULT_USERS["tiktok"]["advertiser_ids"]

    html = page_text(staff_web.get("/connections/"))
    assert html.count("badge text-bg-success") == 5
    assert "acme.my.salesforce.com" in html and "sam@acme.example" in html


def test_a_replayed_state_is_refused_and_saves_nothing_new(staff_web, oauth_fake):
    callback = oauth_fake.approve(start(staff_web, "google"))
    finish(staff_web, callback)
    token_calls = len(oauth_fake.calls_to("google", "token"))

    html = page_text(finish(staff_web, callback))

    assert "already used" in html
    assert Connection.objects.count() == 1
    assert len(oauth_fake.calls_to("google", "token")) == token_calls, "no second exchange"


def test_an_expired_state_is_refused(staff_web, oauth_fake, monkeypatch):
    callback = oauth_fake.approve(start(staff_web, "salesforce"))
    real_clock = oauth._clock
    monkeypatch.setattr(oauth, "_clock", lambda: real_clock() + oauth.STATE_TTL_SECONDS + 1)

    html = page_text(finish(staff_web, callback))

    assert "longer than 10 minutes" in html
    assert not Connection.objects.exists() and not oauth_fake.calls_to("salesforce", "token")


def test_another_sessions_state_is_refused_and_does_not_spend_it(staff_web, staff_user, oauth_fake):
    callback = oauth_fake.approve(start(staff_web, "asana"))
    intruder = Client()
    intruder.force_login(staff_user)  # the same person, but another browser session

    html = page_text(finish(intruder, callback))

    assert "not started from this browser session" in html
    assert not Connection.objects.exists() and not oauth_fake.calls_to("asana", "token")
    assert "Connected Asana" in page_text(finish(staff_web, callback)), "the real session still finishes"


def test_a_state_for_another_platform_is_refused(staff_web, oauth_fake):
    callback = oauth_fake.approve(start(staff_web, "google"))
    html = page_text(finish(staff_web, callback.replace("/connections/google/", "/connections/asana/")))
    assert "another platform" in html and not Connection.objects.exists()


@pytest.mark.parametrize("platform", ["salesforce", "google", "asana", "meta"])
def test_denied_consent_says_so_and_saves_nothing(staff_web, oauth_fake, platform):
    callback = oauth_fake.approve(start(staff_web, platform), decision="deny")
    assert query(callback)["error"] == "access_denied"

    html = page_text(finish(staff_web, callback))

    assert f"You declined on {LABELS[platform]}" in html
    assert not Connection.objects.exists() and not AuditEvent.objects.filter(action__startswith="connection.")


@pytest.mark.parametrize(
    ("platform", "failure", "message"),
    [
        ("google", "invalid_grant", "Google refused the sign-in (invalid_grant"),
        ("salesforce", 503, "Salesforce's token endpoint answered HTTP 503"),
        ("asana", "invalid_grant", "Asana refused the sign-in (invalid_grant"),
        ("meta", "invalid_grant", "Meta refused the sign-in at its token endpoint (This authorization code"),
        ("tiktok", "invalid_grant", "TikTok refused the sign-in (Auth code is invalid or expired.)"),
    ],
)
def test_a_failed_exchange_says_why_and_saves_nothing(staff_web, oauth_fake, platform, failure, message):
    callback = oauth_fake.approve(start(staff_web, platform))
    oauth_fake.fail_token[platform] = failure

    html = page_text(finish(staff_web, callback))

    assert message in html and "Nothing was saved" in html
    assert not Connection.objects.exists()


def test_a_code_without_its_own_pkce_verifier_is_refused_by_the_platform(staff_web, oauth_fake):
    """Two Connect presses: the code of the first consent returned with the second state (whose
    verifier does not match the first challenge). The fake recomputes the S256 challenge."""
    first = start(staff_web, "salesforce")
    second = start(staff_web, "salesforce")
    code = query(oauth_fake.approve(first))["code"]
    callback = f"http://testserver/connections/salesforce/callback?code={code}&state={query(second)['state']}"

    html = page_text(finish(staff_web, callback))

    assert "invalid_request: invalid code verifier" in html
    assert not Connection.objects.exists()


def test_reconnect_keeps_the_connection_id_and_replaces_the_tokens(staff_web, oauth_fake):
    finish(staff_web, oauth_fake.approve(start(staff_web, "google")))
    connection = Connection.objects.get()
    old_token = connection.access_token
    Connection.objects.filter(pk=connection.pk).update(status="needs_reconnect", last_error="invalid_grant")

    html = page_text(finish(staff_web, oauth_fake.approve(start(staff_web, "google", connection_id=connection.pk))))

    assert "Reconnected Google" in html
    again = Connection.objects.get()
    assert again.pk == connection.pk and again.status == "connected" and again.last_error == ""
    assert again.access_token != old_token and again.access_token in oauth_fake.live_tokens("google")
    assert AuditEvent.objects.filter(action="connection.reconnect", object_id=str(connection.pk)).count() == 1
    # Plain Connect with the same account finds the same connection too.
    finish(staff_web, oauth_fake.approve(start(staff_web, "google")))
    assert list(Connection.objects.values_list("pk", flat=True)) == [connection.pk]
    assert_no_token_anywhere(oauth_fake)


def test_reconnect_as_another_account_changes_nothing(staff_web, oauth_fake):
    finish(staff_web, oauth_fake.approve(start(staff_web, "google")))
    connection = Connection.objects.get()
    token = connection.access_token
    oauth_fake.users["google"] = {"sub": "999", "email": "someone@else.example", "name": "Someone Else"}

    html = page_text(finish(staff_web, oauth_fake.approve(start(staff_web, "google", connection_id=connection.pk))))

    assert "You signed in to Google as Someone Else, but this connection is Sam Admin" in html
    assert Connection.objects.get().access_token == token and Connection.objects.count() == 1


def test_reconnect_of_a_connection_that_is_gone_says_so(staff_web, oauth_fake):
    response = staff_web.post("/connections/google/connect", {"connection_id": "4242"}, follow=True)
    assert "no longer exists" in page_text(response)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_disconnect_revokes_at_the_platform_and_deletes_the_secrets(staff_web, oauth_fake, platform):
    finish(staff_web, oauth_fake.approve(start(staff_web, platform)))
    connection = Connection.objects.get()
    expected = connection.refresh_token or connection.access_token

    response = staff_web.post(f"/connections/{connection.pk}/disconnect", follow=True)

    assert f"the token was revoked at {LABELS[platform]}" in page_text(response)
    assert oauth_fake.revocations == [(platform, expected)]
    assert oauth_fake.live_tokens(platform) == [], "the platform no longer honours the grant"
    connection.refresh_from_db()
    assert connection.secrets_encrypted == "" and connection.status == "disabled" and connection.secrets == {}
    assert AuditEvent.objects.filter(action="connection.disconnect", object_id=str(connection.pk)).exists()
    assert "Disconnected" in page_text(staff_web.get("/connections/"))
    assert_no_token_anywhere(oauth_fake)


def test_a_failed_revocation_still_deletes_locally_and_says_so(staff_web, oauth_fake):
    finish(staff_web, oauth_fake.approve(start(staff_web, "google")))
    connection = Connection.objects.get()
    oauth_fake.fail_revoke["google"] = 503

    html = page_text(staff_web.post(f"/connections/{connection.pk}/disconnect", follow=True))

    assert "Google did not revoke the token (HTTP 503)" in html and "its token is deleted" in html
    connection.refresh_from_db()
    assert connection.secrets_encrypted == "" and connection.status == "disabled"


def test_a_disconnected_connection_can_be_reconnected_with_the_same_id(staff_web, oauth_fake):
    finish(staff_web, oauth_fake.approve(start(staff_web, "asana")))
    connection = Connection.objects.get()
    staff_web.post(f"/connections/{connection.pk}/disconnect")

    finish(staff_web, oauth_fake.approve(start(staff_web, "asana", connection_id=connection.pk)))

    again = Connection.objects.get()
    assert again.pk == connection.pk and again.status == "connected" and again.access_token


def test_non_staff_get_403_everywhere(web, oauth_fake):
    assert web.get("/connections/").status_code == 403
    assert web.post("/connections/google/connect").status_code == 403
    assert web.get("/connections/google/callback", {"code": "x", "state": "y"}).status_code == 403
    assert web.post("/connections/1/disconnect").status_code == 403
    assert 'href="/connections/"' not in page_text(web.get("/"))
    assert not oauth_fake.calls


def test_staff_see_the_page_in_the_navigation_with_every_connect_button(staff_web, oauth_fake):
    html = page_text(staff_web.get("/connections/"))
    assert 'href="/connections/"' in page_text(staff_web.get("/"))
    for label in LABELS.values():
        assert f"Connect {label}</button>" in html
    assert "No connections yet" in html


def test_a_platform_without_client_settings_cannot_start(staff_web, oauth_fake, settings):
    settings.SALESFORCE_CLIENT_ID = ""
    html = page_text(staff_web.get("/connections/"))
    assert "<code>SALESFORCE_CLIENT_ID</code>" in html and "http://testserver/connections/salesforce/callback" in html

    response = staff_web.post("/connections/salesforce/connect", follow=True)

    assert "Salesforce is not set up: set SALESFORCE_CLIENT_ID" in page_text(response)
    assert not oauth_fake.calls


def test_unknown_platform_is_404(staff_web):
    assert staff_web.post("/connections/myspace/connect").status_code == 404
    assert staff_web.get("/connections/myspace/callback").status_code == 404


def test_posts_need_the_csrf_token(staff_user, oauth_fake):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    connection = Connection.objects.create(platform="google", label="x", auth="oauth", account_id="1")
    connection.set_secrets({"access_token": "google-token-kept"})
    connection.save()

    assert browser.post("/connections/google/connect").status_code == 403
    assert browser.post(f"/connections/{connection.pk}/disconnect").status_code == 403
    connection.refresh_from_db()
    assert connection.access_token == "google-token-kept" and not oauth_fake.calls

    browser.get("/connections/")
    token = browser.cookies["csrftoken"].value
    assert browser.post("/connections/google/connect", HTTP_X_CSRFTOKEN=token).status_code == 302


def test_environment_credentials_show_as_a_read_only_connection(staff_web, oauth_fake, settings):
    settings.ASANA_ACCESS_TOKEN = "asana-env-token-123456"

    html = page_text(staff_web.get("/connections/"))

    assert "Asana: environment" in html and "read-only" in html and "<code>ASANA_ACCESS_TOKEN</code>" in html
    assert 'data-connection-id="environment-asana"' in html
    assert "Disconnect" not in html and "Reconnect" not in html
    assert "asana-env-token-123456" not in html


def test_the_connections_page_lets_its_forms_go_to_the_consent_pages_only(staff_web, oauth_fake):
    """Connect is a form post redirected to the platform: the page's Content-Security-Policy
    (form-action 'self') names the consent origins, and no other page does."""
    import re

    policy = staff_web.get("/connections/")["Content-Security-Policy"]
    form_action = re.search(r"form-action ([^;]*)", policy)[1].split()
    consent = urlsplit(start(staff_web, "salesforce"))
    assert f"{consent.scheme}://{consent.netloc}" in form_action and "'self'" in form_action
    assert re.search(r"form-action ([^;]*)", staff_web.get("/tasks/")["Content-Security-Policy"])[1] == "'self'"


def test_after_disconnect_the_environment_credentials_are_used(staff_web, oauth_fake, settings):
    from integrations.connectors.asana import AsanaConnector

    finish(staff_web, oauth_fake.approve(start(staff_web, "asana")))
    connection = Connection.objects.get()
    settings.ASANA_ACCESS_TOKEN = "asana-env-token-123456"
    assert AsanaConnector(demo=False).token() == connection.access_token, "the stored one wins while connected"

    staff_web.post(f"/connections/{connection.pk}/disconnect")

    connector = AsanaConnector()
    assert not connector.demo and connector.connection.is_environment
    assert connector.token() == "asana-env-token-123456"


def test_a_disconnected_oldest_connection_is_not_the_default(staff_web, oauth_fake):
    from integrations.connectors.asana import AsanaConnector

    finish(staff_web, oauth_fake.approve(start(staff_web, "asana")))
    oauth_fake.users["asana"] = {**DEFAULT_USERS["asana"], "gid": "1209999999999998", "name": "Second Person"}
    finish(staff_web, oauth_fake.approve(start(staff_web, "asana")))
    first, second = Connection.objects.order_by("id")
    staff_web.post(f"/connections/{first.pk}/disconnect")

    assert AsanaConnector().connection.pk == second.pk
    assert AsanaConnector().token() == second.access_token

    staff_web.post(f"/connections/{second.pk}/disconnect")
    assert AsanaConnector().demo, "every stored one disconnected and no environment: demo mode"


def test_reconnect_onto_an_account_another_connection_holds_changes_nothing(staff_web, oauth_fake):
    """A connection without an account id (made before ids were recorded) reconnected as the
    account another connection already holds: a clear message, not a 500, and nothing saved."""
    finish(staff_web, oauth_fake.approve(start(staff_web, "asana")))
    holder = Connection.objects.get()
    blank = Connection.objects.create(platform="asana", label="Old Asana", auth="token", account_id="")
    blank.set_secrets({"access_token": "asana-old-token-kept"})
    blank.save()

    html = page_text(finish(staff_web, oauth_fake.approve(start(staff_web, "asana", connection_id=blank.pk))))

    assert 'You signed in to Asana as Sam Admin, which is already connected as "Sam Admin"' in html
    assert "Nothing was changed" in html
    blank.refresh_from_db()
    assert blank.account_id == "" and blank.auth == "token" and blank.access_token == "asana-old-token-kept"
    assert Connection.objects.get(pk=holder.pk).account_id == DEFAULT_USERS["asana"]["gid"]
    assert not AuditEvent.objects.filter(action="connection.reconnect").exists()


def test_tiktok_reconnect_onto_advertisers_another_connection_holds_changes_nothing(staff_web, oauth_fake):
    oauth_fake.users["tiktok"] = {"advertiser_ids": ["7000000000000000001"]}
    finish(staff_web, oauth_fake.approve(start(staff_web, "tiktok")))
    oauth_fake.users["tiktok"] = {"advertiser_ids": ["7000000000000000001", "7000000000000000002"]}
    Connection.objects.create(
        platform="tiktok", label="Both", auth="token", account_id="7000000000000000001,7000000000000000002"
    )
    first = Connection.objects.order_by("id").first()

    # The same person's grant overlaps the first connection, so it is accepted as the same account,
    # but its advertiser set is the one the second connection holds.
    html = page_text(finish(staff_web, oauth_fake.approve(start(staff_web, "tiktok", connection_id=first.pk))))

    assert 'already connected as "Both"' in html and "Nothing was changed" in html
    first.refresh_from_db()
    assert first.account_id == "7000000000000000001"


@pytest.mark.parametrize("platform", ["salesforce", "google", "asana"])
@pytest.mark.parametrize(
    "body",
    [
        "[1]",
        "null",
        '"x"',
        '{"access_token": "at-1", "token_type": "Bearer", "expires_in": "soon", "refresh_token": "rt-1"}',
    ],
)
def test_a_malformed_token_answer_says_so_and_saves_nothing(staff_web, oauth_fake, platform, body):
    callback = oauth_fake.approve(start(staff_web, platform))
    oauth_fake.token_body[platform] = body

    html = page_text(finish(staff_web, callback))

    assert f"{LABELS[platform]}'s token endpoint sent an answer that is not a valid token response" in html
    assert "Nothing was saved" in html
    assert not Connection.objects.exists()


def test_a_missing_credentials_key_ends_the_callback_with_its_message(staff_web, oauth_fake, settings):
    callback = oauth_fake.approve(start(staff_web, "google"))
    settings.CREDENTIALS_KEYS, settings.DEBUG = [], False

    html = page_text(finish(staff_web, callback))

    assert "CREDENTIALS_KEYS is not set: connection secrets cannot be encrypted" in html
    assert "Nothing was saved" in html
    assert not Connection.objects.exists()


def test_disconnect_without_a_credentials_key_deletes_locally_and_says_why_it_was_not_revoked(
    staff_web, oauth_fake, settings
):
    finish(staff_web, oauth_fake.approve(start(staff_web, "google")))
    connection = Connection.objects.get()
    settings.CREDENTIALS_KEYS, settings.DEBUG = [], False

    html = page_text(staff_web.post(f"/connections/{connection.pk}/disconnect", follow=True))

    assert "CREDENTIALS_KEYS is not set" in html and "it was not revoked at the platform" in html
    assert not oauth_fake.revocations
    connection.refresh_from_db()
    assert connection.secrets_encrypted == "" and connection.status == "disabled"
