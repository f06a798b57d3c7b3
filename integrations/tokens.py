"""Access tokens that stay valid: the token a call presents for a connection, refreshed shortly
before it expires and once more when the platform answers 401 (Salesforce's INVALID_SESSION_ID
comes with no `expires_in`, so there the 401 is the only signal).

The protocol is RFC 6749's refresh grant, built and parsed by oauthlib (a maintained OAuth
library; the HTTP goes through httpx, so tests and sandboxes swap the transport). Per platform:
- Salesforce: POST {SALESFORCE_LOGIN_URL}/services/oauth2/token; the answer carries
  access_token, instance_url, id, issued_at, signature and no expires_in
  (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm).
- Google: POST {GOOGLE_TOKEN_URL}; expires_in 3599, usually no new refresh_token
  (https://developers.google.com/identity/protocols/oauth2/web-server#offline).
- Asana: POST {ASANA_OAUTH_URL}oauth_token; expires_in 3600 (https://developers.asana.com/docs/oauth).
- Meta: no refresh grant; a short-lived user token is exchanged once for a long-lived one
  (about 60 days) at GET {META_GRAPH_BASE_URL}/oauth/access_token?grant_type=fb_exchange_token
  (https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived);
  staff are warned CONNECTION_EXPIRY_WARNING_DAYS before it expires.
- TikTok: Marketing API tokens are long-term (no refresh);
  POST {TIKTOK_BASE_URL}/open_api/v1.3/oauth2/access_token/ issues them.
- Google service accounts: google-auth signs the JWT and exchanges it at GOOGLE_TOKEN_URL.

Two workers refreshing the same connection refresh it once: the refresh locks the connection's
row (SELECT … FOR UPDATE on PostgreSQL), and whoever gets the lock second finds a token that is
no longer the stale one and uses it. A rotated refresh token is saved in the same transaction
as the access token. A refused refresh (invalid_grant) marks the connection needs_reconnect and
tells staff once; a token endpoint that is down is a retryable error.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient

from accounts.actor import ORIGIN_SYNC, Actor
from integrations.connection_services import (
    connection_mark_needs_reconnect,
    connection_record_error,
    connection_update_tokens,
    connection_warn_expiry,
)
from integrations.connectors.base import AuthError, ConnectorError
from integrations.credentials import redact, secret_values
from integrations.environment import EnvironmentConnection
from integrations.models import Connection

GOOGLE_SCOPES = (
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/adwords",
)
REFRESHABLE_PLATFORMS = ("salesforce", "google", "asana")


class ReconnectNeeded(AuthError):
    """The connection cannot be used until a person reconnects it (refresh refused, revoked,
    disabled). Stops the sync with this message; other connections go on."""


class TokenEndpointError(ConnectorError):
    """The platform's token endpoint failed for a reason that may pass (down, timeout)."""

    retryable_default = True


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str


def token_url(platform: str, *, connection: Connection | None = None) -> str:
    """The platform's token endpoint, from settings (the platforms' real endpoints by default)."""
    if platform == "salesforce":
        login = str((connection.account_extra.get("login_url") if connection else "") or settings.SALESFORCE_LOGIN_URL)
        return f"{login.rstrip('/')}/services/oauth2/token"
    if platform == "google":
        return str(settings.GOOGLE_TOKEN_URL)
    if platform == "asana":
        base = str(settings.ASANA_OAUTH_URL)
        return urljoin(base if base.endswith("/") else base + "/", "oauth_token")
    if platform == "meta":
        return f"{str(settings.META_GRAPH_BASE_URL).rstrip('/')}/oauth/access_token"
    if platform == "tiktok":
        return f"{str(settings.TIKTOK_BASE_URL).rstrip('/')}/open_api/v1.3/oauth2/access_token/"
    raise ValueError(f"Unknown platform {platform!r}")


def client_credentials(platform: str) -> ClientCredentials:
    """The OAuth client (app) id and secret of `platform`, from settings ("" when unset)."""
    names = {
        "salesforce": ("SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET"),
        "google": ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"),
        "asana": ("ASANA_CLIENT_ID", "ASANA_CLIENT_SECRET"),
        "meta": ("META_APP_ID", "META_APP_SECRET"),
        "tiktok": ("TIKTOK_APP_ID", "TIKTOK_APP_SECRET"),
    }[platform]
    return ClientCredentials(*(str(getattr(settings, name, "") or "") for name in names))


def refresh_margin() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "CONNECTION_REFRESH_MARGIN", 300)))


def _http() -> httpx.Client:
    return httpx.Client(timeout=float(getattr(settings, "SYNC_HTTP_TIMEOUT", 30.0)), follow_redirects=False)


# --- the token a call presents ---------------------------------------------------------------
def access_token_for(
    connection: Connection | EnvironmentConnection,
    *,
    client: httpx.Client | None = None,
    stale_token: str | None = None,
    scopes: tuple[str, ...] = GOOGLE_SCOPES,
    refused_because: str = "",
) -> str:
    """The access token to present for `connection` now: the stored one while it is not about
    to expire, else a refreshed one; `stale_token` (the token the platform just refused with a
    401) forces one refresh unless another worker already replaced it. Google service accounts
    get a token from google-auth; `refused_because` is the platform's answer to the stale token
    (kept as the reason when the connection must be reconnected). Raises ReconnectNeeded,
    TokenEndpointError, AuthError."""
    if connection.auth == Connection.Auth.SERVICE_ACCOUNT:
        return _service_account_token(connection, scopes=scopes, force=stale_token is not None)
    if isinstance(connection, EnvironmentConnection):
        if stale_token is not None:
            raise AuthError(f"{connection.get_platform_display()} refused the token from {_names(connection)}.")
        return connection.access_token
    if connection.status in (Connection.Status.NEEDS_RECONNECT, Connection.Status.DISABLED):
        raise ReconnectNeeded(_needs_reconnect_text(connection))
    _warn_if_expiring(connection)
    token = connection.access_token
    refreshable = connection.auth == Connection.Auth.OAUTH and connection.platform in REFRESHABLE_PLATFORMS
    if stale_token is None and token and not connection.expires_within(refresh_margin()):
        return token
    if not refreshable:
        if stale_token is not None or (connection.expires_at is not None and connection.expires_at <= timezone.now()):
            reason = f"{connection.get_platform_display()} refused the token (it expired or was revoked)"
            reason += f": {refused_because}" if refused_because else "."
            connection_mark_needs_reconnect(connection=connection, reason=reason, actor=_actor())
            raise ReconnectNeeded(_needs_reconnect_text(connection))
        return token
    return refresh_connection(connection, stale_token=stale_token if stale_token is not None else token, client=client)


def refresh_connection(connection: Connection, *, stale_token: str, client: httpx.Client | None = None) -> str:
    """Refresh `connection`'s access token once, under its row lock; returns the new token (or
    the one another worker stored meanwhile). Raises ReconnectNeeded, TokenEndpointError."""
    try:
        return _refresh_locked(connection, stale_token=stale_token, client=client)
    except TokenEndpointError as exc:
        # Kept outside the refresh's transaction, which the error rolled back.
        connection_record_error(connection=connection, error=str(exc))
        raise


def _refresh_locked(connection: Connection, *, stale_token: str, client: httpx.Client | None) -> str:
    refused: str | None = None
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        current = locked.access_token
        # Disconnected meanwhile (a sync that loaded the row before): nothing to refresh, nobody
        # to tell, and marking it would undo the Disconnect.
        if locked.status in (Connection.Status.NEEDS_RECONNECT, Connection.Status.DISABLED):
            _copy(locked, connection)
            raise ReconnectNeeded(_needs_reconnect_text(locked))
        if current and current != stale_token and not locked.expires_within(refresh_margin()):
            _copy(locked, connection)  # another worker refreshed while we waited for the lock
            return current
        refresh_token = locked.refresh_token
        if not refresh_token:
            refused = "no refresh token is stored (the platform did not issue one)"
        else:
            try:
                answer = _refresh_grant(locked, refresh_token=refresh_token, client=client)
            except OAuth2Error as exc:
                if exc.error in ("invalid_grant", "unauthorized_client", "invalid_client"):
                    refused = _scrub(locked, f"{exc.error}: {exc.description or ''}".strip(": "))
                else:
                    raise _endpoint_error(locked, f"{exc.error}: {exc.description or ''}") from None
            else:
                connection_update_tokens(
                    connection=locked,
                    access_token=answer["access_token"],
                    # Google and Asana keep the old refresh token; Salesforce may rotate it.
                    refresh_token=answer.get("refresh_token") or None,
                    expires_at=_expires_at(answer),
                    scopes=list(answer["scope"]) if answer.get("scope") else None,
                    account_extra={"instance_url": answer["instance_url"]} if answer.get("instance_url") else None,
                )
                _copy(locked, connection)
                return str(answer["access_token"])
    reason = f"{connection.get_platform_display()} refused the refresh token ({refused}); reconnect it."
    connection_mark_needs_reconnect(connection=connection, reason=reason, actor=_actor())
    raise ReconnectNeeded(_needs_reconnect_text(connection))


def _refresh_grant(connection: Connection, *, refresh_token: str, client: httpx.Client | None) -> dict[str, Any]:
    """POST the refresh grant; the parsed token answer. Raises OAuth2Error, TokenEndpointError."""
    app = client_credentials(connection.platform)
    oauth = WebApplicationClient(app.client_id)
    body = oauth.prepare_refresh_body(
        refresh_token=refresh_token, client_id=app.client_id, client_secret=app.client_secret or None
    )
    url = token_url(connection.platform, connection=connection)
    http = client or _http()
    try:
        response = http.post(
            url,
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise _endpoint_error(connection, f"token endpoint unreachable ({type(exc).__name__})") from None
    finally:
        if client is None:
            http.close()
    if response.status_code >= 500 or response.status_code == 429:
        raise _endpoint_error(connection, f"token endpoint answered HTTP {response.status_code}")
    try:
        answer = dict(oauth.parse_request_body_response(response.text))
    except OAuth2Error:
        raise
    except (ValueError, TypeError, Warning) as exc:
        # oauthlib raises TypeError for JSON that is not an object ([1, 2], null).
        raise _endpoint_error(connection, f"unreadable token answer (HTTP {response.status_code}): {exc}") from None
    if not answer.get("access_token"):
        raise _endpoint_error(connection, f"token answer without access_token (HTTP {response.status_code})")
    return answer


def _expires_at(answer: dict[str, Any]) -> dt.datetime | None:
    """When the new token expires: expires_in from now, or None (Salesforce sends none; its
    session timeout is only learnt from a 401)."""
    try:
        seconds = float(answer["expires_in"])
    except (KeyError, TypeError, ValueError):
        return None
    return timezone.now() + dt.timedelta(seconds=seconds)


def _endpoint_error(connection: Connection, text: str) -> TokenEndpointError:
    return TokenEndpointError(_scrub(connection, f"{connection.get_platform_display()} token refresh failed: {text}"))


def _warn_if_expiring(connection: Connection) -> None:
    """Meta long-lived tokens cannot be refreshed: warn staff once, some days ahead."""
    if connection.platform != "meta" or connection.expires_at is None or connection.expiry_warned_at is not None:
        return
    days = int(getattr(settings, "CONNECTION_EXPIRY_WARNING_DAYS", 7))
    if connection.expires_within(dt.timedelta(days=days)):
        message = f"{connection}: the Meta token expires on {connection.expires_at:%Y-%m-%d}; reconnect it before then."
        connection_warn_expiry(connection=connection, message=message)


def _needs_reconnect_text(connection: Connection) -> str:
    if connection.status == Connection.Status.DISABLED:
        return f"{connection} is disabled; enable or reconnect it to sync."
    detail = f" ({connection.last_error})" if connection.last_error else ""
    return f"{connection} needs reconnecting{detail}."[:1000]


def _copy(source: Connection, target: Connection) -> None:
    for name in (
        "secrets_encrypted",
        "status",
        "expires_at",
        "last_refreshed_at",
        "last_error",
        "last_error_at",
        "scopes",
        "account_extra",
        "reconnect_notified_at",
    ):
        setattr(target, name, getattr(source, name))


def _scrub(connection: Connection | EnvironmentConnection, text: str) -> str:
    try:
        values = secret_values(connection.secrets)
    except Exception:  # noqa: BLE001
        values = []
    app = client_credentials(connection.platform)
    return redact(text, [*values, app.client_secret])


def _names(connection: EnvironmentConnection) -> str:
    return " / ".join(connection.settings_names) or "the environment"


def _actor() -> Actor:
    return Actor.system_job("token refresh", origin=ORIGIN_SYNC)


# --- Google service accounts (google-auth) ---------------------------------------------------
_sa_lock = threading.Lock()
_sa_cache: dict[tuple[str, tuple[str, ...]], tuple[str, float]] = {}


def _service_account_token(
    connection: Connection | EnvironmentConnection, *, scopes: tuple[str, ...], force: bool = False
) -> str:
    """A token for a Google service account from google-auth (JWT signed with its key,
    exchanged at GOOGLE_TOKEN_URL), cached until a minute before it expires. Raises AuthError
    (a key Google refuses or that cannot be read), TokenEndpointError."""
    text = connection.secrets.get("service_account_json", "")
    if not text:
        raise AuthError(f"{connection}: the service-account key is missing or unreadable.")
    key = (str(hash(text)), tuple(sorted(scopes)))
    with _sa_lock:
        cached = _sa_cache.get(key)
        if cached and not force and cached[1] > time.time() + 60:
            return cached[0]
    token, expiry = service_account_exchange(text, scopes=scopes, scrub=lambda t: _scrub(connection, t))
    with _sa_lock:
        _sa_cache[key] = (token, expiry)
    return token


def service_account_exchange(text: str, *, scopes: tuple[str, ...], scrub: Any = None) -> tuple[str, float]:
    """(access token, expiry as a Unix time) for the service-account key JSON `text`, through
    google-auth with token_uri = GOOGLE_TOKEN_URL. Raises AuthError, TokenEndpointError; the
    messages never hold the key."""
    import google.auth.exceptions
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    scrub = scrub or (lambda t: redact(t, secret_values({"service_account_json": text})))
    try:
        info = json.loads(text)
        if not isinstance(info, dict):
            raise ValueError("the key is not a JSON object")
        info = {**info, "token_uri": str(settings.GOOGLE_TOKEN_URL)}
        credentials = service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthError(scrub(f"The service-account key cannot be used: {type(exc).__name__}: {exc}")) from None
    try:
        credentials.refresh(Request())
    except google.auth.exceptions.RefreshError as exc:
        raise AuthError(scrub(f"Google refused the service account: {exc.args[0] if exc.args else exc}")) from None
    except google.auth.exceptions.TransportError as exc:
        raise TokenEndpointError(scrub(f"Google token endpoint unreachable: {exc}")) from None
    expiry = credentials.expiry
    expires = expiry.replace(tzinfo=dt.UTC).timestamp() if expiry is not None else time.time() + 3600
    return str(credentials.token), expires


# --- Meta: the long-lived token exchange -------------------------------------------------------
def meta_long_lived_exchange(short_token: str, *, client: httpx.Client | None = None) -> tuple[str, dt.datetime | None]:
    """Exchange a short-lived Meta user token for a long-lived one; (token, expires_at).
    GET {META_GRAPH_BASE_URL}/oauth/access_token?grant_type=fb_exchange_token&client_id&
    client_secret&fb_exchange_token → {"access_token", "token_type", "expires_in"}. Raises
    AuthError (refused), TokenEndpointError."""
    app = client_credentials("meta")
    http = client or _http()
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "fb_exchange_token": short_token,
    }
    secrets = [short_token, app.client_secret]
    try:
        response = http.get(token_url("meta"), params=params)
    except httpx.HTTPError as exc:
        raise TokenEndpointError(redact(f"Meta token exchange unreachable: {type(exc).__name__}", secrets)) from None
    finally:
        if client is None:
            http.close()
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not response.is_success or not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = str(error.get("message", "")) if isinstance(error, dict) else ""
        text = redact(f"Meta refused the token exchange (HTTP {response.status_code}): {message}", secrets)
        raise (TokenEndpointError if response.status_code >= 500 else AuthError)(text)
    return str(body["access_token"]), _expires_at(body)
