"""Each platform's OAuth consent, code exchange, identity and revocation, against its documented
endpoints (every base URL is a setting, so tests and sandboxes point elsewhere).

The RFC 6749 parts (consent URL, token request body, token answer parsing, PKCE) are built by
oauthlib's `WebApplicationClient`; what differs per platform is written here:

- Salesforce, "OAuth 2.0 Web Server Flow for Web App Integration"
  (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm):
  {SALESFORCE_LOGIN_URL}/services/oauth2/authorize with PKCE, scope `api refresh_token`; the
  token answer carries `instance_url` and `id` (the identity URL) and no `expires_in`; the
  identity service at `id` names the org and user; revoke at /services/oauth2/revoke.
- Google, "Using OAuth 2.0 for Web Server Applications"
  (https://developers.google.com/identity/protocols/oauth2/web-server): PKCE,
  `access_type=offline&prompt=consent` so a refresh token is issued; the OpenID userinfo
  endpoint gives `sub` and `email`; revoke at GOOGLE_REVOKE_URL.
- Asana, "OAuth" (https://developers.asana.com/docs/oauth): {ASANA_OAUTH_URL}oauth_authorize,
  oauth_token (the answer's `data` is the user), oauth_revoke; PKCE supported.
- Meta, "Manually Build a Login Flow"
  (https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow) and
  "Long-Lived Access Tokens"
  (https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived):
  the dialog, then GET /oauth/access_token with the code, then the short-lived token is
  exchanged with grant_type=fb_exchange_token (about 60 days); GET /me?fields=id,name;
  DELETE /me/permissions revokes. PKCE exists only in Meta's OIDC flow (still in testing), so
  the classic code flow with the app secret is used.
- TikTok, Marketing API authorization
  (https://business-api.tiktok.com/portal/docs?id=1738373164380162): the advertiser
  authorization page returns `auth_code`; POST /open_api/v1.3/oauth2/access_token/ (JSON
  app_id, secret, auth_code) answers a long-term token with `advertiser_ids`; permissions are
  chosen when the app is registered, so no scope goes in the URL; /oauth2/revoke_token/ revokes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient

from integrations.oauth import (
    ExchangeFailed,
    OAuthGrant,
    PendingAuthorization,
    RevokeFailed,
    expires_at_from,
)

GOOGLE_SCOPES = (
    "openid",
    "email",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/adwords",
)
ERROR_TEXT_MAX = 200


def http_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(
        transport=transport,
        timeout=float(getattr(settings, "SYNC_HTTP_TIMEOUT", 30)),
        headers={"Accept": "application/json"},
    )


class OAuthProvider:
    """The standard authorization-code flow; subclasses name endpoints and read the identity."""

    platform = ""
    label = ""
    client_id_setting = ""
    client_secret_setting = ""
    pkce = True
    scopes: tuple[str, ...] = ()
    scope_separator = " "

    # --- configuration ---------------------------------------------------------------------
    @property
    def client_id(self) -> str:
        return str(getattr(settings, self.client_id_setting, "") or "")

    @property
    def client_secret(self) -> str:
        return str(getattr(settings, self.client_secret_setting, "") or "")

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def authorize_endpoint(self) -> str:
        raise NotImplementedError

    def token_endpoint(self) -> str:
        raise NotImplementedError

    def extra_authorize_params(self) -> dict[str, str]:
        return {}

    # --- the flow ----------------------------------------------------------------------------
    def authorization_url(self, pending: PendingAuthorization) -> str:
        """The consent page URL for `pending` (state, PKCE challenge, scopes, redirect URI)."""
        client = WebApplicationClient(self.client_id)
        kwargs: dict[str, Any] = dict(self.extra_authorize_params())
        if self.pkce:
            kwargs["code_challenge"] = client.create_code_challenge(pending.code_verifier, "S256")
            kwargs["code_challenge_method"] = "S256"
        return client.prepare_request_uri(
            self.authorize_endpoint(),
            redirect_uri=pending.redirect_uri,
            scope=self.scope_separator.join(self.scopes) or None,
            state=pending.state,
            **kwargs,
        )

    def callback_code(self, params: dict[str, str]) -> str:
        return params.get("code", "")

    def exchange(self, *, code: str, pending: PendingAuthorization, http: httpx.Client) -> OAuthGrant:
        """Trade the code for tokens and read the identity. Raises ExchangeFailed."""
        token = self.token_request(code=code, pending=pending, http=http)
        return self.identify(token=token, http=http)

    def token_request(self, *, code: str, pending: PendingAuthorization, http: httpx.Client) -> dict[str, Any]:
        client = WebApplicationClient(self.client_id)
        body = client.prepare_request_body(
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier or None,
            include_client_id=True,
            client_secret=self.client_secret,
        )
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        response = self._send(http, "POST", self.token_endpoint(), content=body, headers=form)
        if response.status_code >= 500:
            status = response.status_code
            raise ExchangeFailed(f"{self.label}'s token endpoint answered HTTP {status}. Nothing was saved.")
        try:
            return dict(client.parse_request_body_response(response.text))
        except OAuth2Error as exc:
            raise ExchangeFailed(
                f"{self.label} refused the sign-in ({_short(exc.error)}: {_short(exc.description or '')}). "
                "Nothing was saved; try again."
            ) from None
        except (ValueError, TypeError, AttributeError, Warning):
            # oauthlib expects a JSON object: `[1]`, `null` or `"x"` fail inside it with these,
            # so does a non-numeric expires_in (ValueError) and a changed scope (Warning).
            raise ExchangeFailed(
                f"{self.label}'s token endpoint sent an answer that is not a valid token response. "
                "Nothing was saved; try again."
            ) from None

    def identify(self, *, token: dict[str, Any], http: httpx.Client) -> OAuthGrant:
        raise NotImplementedError

    def same_account(self, connected: str, signed_in: str) -> bool:
        """Whether a reconnect's new identity is the connection's account."""
        return connected == signed_in

    def revoke(self, *, secrets: dict[str, str], http: httpx.Client) -> bool:
        """Revoke the grant at the platform. True when revoked, False when the platform has no
        revoke endpoint or there is no token. Raises RevokeFailed."""
        return False

    # --- helpers -----------------------------------------------------------------------------
    def _send(self, http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ExchangeFailed(
                f"Could not reach {self.label} ({type(exc).__name__}). Nothing was saved; try again."
            ) from None

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise ExchangeFailed(f"{self.label}'s {what} answered HTTP {response.status_code}. Nothing was saved.")
        try:
            body = response.json()
        except ValueError:
            raise ExchangeFailed(f"{self.label}'s {what} did not answer JSON. Nothing was saved.") from None
        if not isinstance(body, dict):
            raise ExchangeFailed(f"{self.label}'s {what} answered an unexpected shape. Nothing was saved.")
        return body

    def _revoke_post(self, http: httpx.Client, url: str, data: dict[str, str]) -> bool:
        try:
            response = http.post(url, data=data)
        except httpx.HTTPError as exc:
            raise RevokeFailed(f"Could not reach {self.label} to revoke the token ({type(exc).__name__}).") from None
        if response.status_code != 200:
            raise RevokeFailed(f"{self.label} did not revoke the token (HTTP {response.status_code}).")
        return True


class SalesforceProvider(OAuthProvider):
    platform = "salesforce"
    label = "Salesforce"
    client_id_setting = "SALESFORCE_CLIENT_ID"
    client_secret_setting = "SALESFORCE_CLIENT_SECRET"
    scopes = ("api", "refresh_token")

    def _login(self) -> str:
        return settings.SALESFORCE_LOGIN_URL.rstrip("/")

    def authorize_endpoint(self) -> str:
        return f"{self._login()}/services/oauth2/authorize"

    def token_endpoint(self) -> str:
        return f"{self._login()}/services/oauth2/token"

    def identify(self, *, token: dict[str, Any], http: httpx.Client) -> OAuthGrant:
        instance_url = str(token.get("instance_url") or "")
        identity_url = str(token.get("id") or "")
        # The bearer token goes only to the login host or the org's own host.
        allowed = {urlsplit(self._login()).netloc, urlsplit(instance_url).netloc} - {""}
        if not identity_url or urlsplit(identity_url).netloc not in allowed:
            raise ExchangeFailed("Salesforce's token answer had no usable identity URL. Nothing was saved.")
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        identity = self._json(self._send(http, "GET", identity_url, headers=headers), "identity service")
        org, user = str(identity.get("organization_id") or ""), str(identity.get("user_id") or "")
        if not org or not user:
            raise ExchangeFailed("Salesforce's identity service named no org or user. Nothing was saved.")
        return OAuthGrant(
            platform=self.platform,
            access_token=str(token["access_token"]),
            refresh_token=str(token.get("refresh_token") or ""),
            expires_at=None,  # the session timeout is the org's; a 401 tells when to refresh
            scopes=list(token.get("scope") or []),
            account_id=f"{org}/{user}",
            account_name=str(identity.get("display_name") or identity.get("username") or ""),
            account_email=str(identity.get("email") or ""),
            account_extra={
                "instance_url": instance_url,
                "org_id": org,
                "user_id": user,
                "username": str(identity.get("username") or ""),
                "identity_url": identity_url,
            },
        )

    def revoke(self, *, secrets: dict[str, str], http: httpx.Client) -> bool:
        # Revoking the refresh token revokes its access tokens too.
        token = secrets.get("refresh_token") or secrets.get("access_token")
        if not token:
            return False
        return self._revoke_post(http, f"{self._login()}/services/oauth2/revoke", {"token": token})


class GoogleProvider(OAuthProvider):
    platform = "google"
    label = "Google"
    client_id_setting = "GOOGLE_CLIENT_ID"
    client_secret_setting = "GOOGLE_CLIENT_SECRET"
    scopes = GOOGLE_SCOPES

    def authorize_endpoint(self) -> str:
        return settings.GOOGLE_AUTH_URL

    def token_endpoint(self) -> str:
        return settings.GOOGLE_TOKEN_URL

    def extra_authorize_params(self) -> dict[str, str]:
        # Offline access plus a fresh consent, so Google issues a refresh token every time.
        return {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}

    def identify(self, *, token: dict[str, Any], http: httpx.Client) -> OAuthGrant:
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        info = self._json(self._send(http, "GET", settings.GOOGLE_USERINFO_URL, headers=headers), "userinfo endpoint")
        sub = str(info.get("sub") or "")
        if not sub:
            raise ExchangeFailed("Google's userinfo named no account. Nothing was saved.")
        return OAuthGrant(
            platform=self.platform,
            access_token=str(token["access_token"]),
            refresh_token=str(token.get("refresh_token") or ""),
            expires_at=expires_at_from(token.get("expires_in")),
            scopes=list(token.get("scope") or []),
            account_id=sub,
            account_name=str(info.get("name") or ""),
            account_email=str(info.get("email") or ""),
        )

    def revoke(self, *, secrets: dict[str, str], http: httpx.Client) -> bool:
        token = secrets.get("refresh_token") or secrets.get("access_token")
        if not token:
            return False
        return self._revoke_post(http, settings.GOOGLE_REVOKE_URL, {"token": token})


class AsanaProvider(OAuthProvider):
    platform = "asana"
    label = "Asana"
    client_id_setting = "ASANA_CLIENT_ID"
    client_secret_setting = "ASANA_CLIENT_SECRET"
    scopes = ("default",)

    def _oauth(self, name: str) -> str:
        return settings.ASANA_OAUTH_URL.rstrip("/") + "/" + name

    def authorize_endpoint(self) -> str:
        return self._oauth("oauth_authorize")

    def token_endpoint(self) -> str:
        return self._oauth("oauth_token")

    def identify(self, *, token: dict[str, Any], http: httpx.Client) -> OAuthGrant:
        user = token.get("data") if isinstance(token.get("data"), dict) else {}
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        me_url = settings.ASANA_BASE_URL.rstrip("/") + "/users/me"
        response = self._send(
            http, "GET", me_url, headers=headers, params={"opt_fields": "gid,name,email,workspaces.name"}
        )
        me = self._json(response, "users/me").get("data") or {}
        gid = str(me.get("gid") or user.get("gid") or "")
        if not gid:
            raise ExchangeFailed("Asana named no user for this sign-in. Nothing was saved.")
        workspaces = [
            {"gid": str(w.get("gid")), "name": str(w.get("name") or "")}
            for w in me.get("workspaces") or []
            if isinstance(w, dict) and w.get("gid")
        ]
        return OAuthGrant(
            platform=self.platform,
            access_token=str(token["access_token"]),
            refresh_token=str(token.get("refresh_token") or ""),
            expires_at=expires_at_from(token.get("expires_in")),
            scopes=list(token.get("scope") or self.scopes),
            account_id=gid,
            account_name=str(me.get("name") or user.get("name") or ""),
            account_email=str(me.get("email") or user.get("email") or ""),
            account_extra={"workspaces": workspaces},
        )

    def revoke(self, *, secrets: dict[str, str], http: httpx.Client) -> bool:
        token = secrets.get("refresh_token") or secrets.get("access_token")
        if not token:
            return False
        data = {"client_id": self.client_id, "client_secret": self.client_secret, "token": token}
        return self._revoke_post(http, self._oauth("oauth_revoke"), data)


class MetaProvider(OAuthProvider):
    platform = "meta"
    label = "Meta"
    client_id_setting = "META_APP_ID"
    client_secret_setting = "META_APP_SECRET"
    pkce = False
    scopes = ("ads_read", "business_management")
    scope_separator = ","

    def _graph(self, path: str) -> str:
        return settings.META_GRAPH_BASE_URL.rstrip("/") + path

    def authorize_endpoint(self) -> str:
        return settings.META_DIALOG_URL

    def token_endpoint(self) -> str:
        return self._graph("/oauth/access_token")

    def token_request(self, *, code: str, pending: PendingAuthorization, http: httpx.Client) -> dict[str, Any]:
        app = {"client_id": self.client_id, "client_secret": self.client_secret}
        code_params = {**app, "redirect_uri": pending.redirect_uri, "code": code}
        short = self._graph_json(http, "GET", "/oauth/access_token", "token endpoint", params=code_params)
        if not short.get("access_token"):
            raise ExchangeFailed("Meta's token endpoint issued no access token. Nothing was saved.")
        # The dialog's token lasts hours; trade it for the ~60-day one.
        long = self._graph_json(
            http,
            "GET",
            "/oauth/access_token",
            "long-lived token exchange",
            params={**app, "grant_type": "fb_exchange_token", "fb_exchange_token": str(short["access_token"])},
        )
        if not long.get("access_token"):
            raise ExchangeFailed("Meta issued no long-lived token. Nothing was saved.")
        return long

    def identify(self, *, token: dict[str, Any], http: httpx.Client) -> OAuthGrant:
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        me = self._graph_json(http, "GET", "/me", "profile", params={"fields": "id,name"}, headers=headers)
        permissions = self._graph_json(http, "GET", "/me/permissions", "permissions", headers=headers)
        granted = [
            str(p.get("permission"))
            for p in permissions.get("data") or []
            if isinstance(p, dict) and p.get("status") == "granted"
        ]
        if not me.get("id"):
            raise ExchangeFailed("Meta named no user for this sign-in. Nothing was saved.")
        return OAuthGrant(
            platform=self.platform,
            access_token=str(token["access_token"]),
            expires_at=expires_at_from(token.get("expires_in")),
            scopes=granted,
            account_id=str(me["id"]),
            account_name=str(me.get("name") or ""),
        )

    def revoke(self, *, secrets: dict[str, str], http: httpx.Client) -> bool:
        token = secrets.get("access_token")
        if not token:
            return False
        try:
            response = http.delete(self._graph("/me/permissions"), headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise RevokeFailed(f"Could not reach Meta to revoke the token ({type(exc).__name__}).") from None
        if response.status_code != 200:
            raise RevokeFailed(f"Meta did not revoke the token (HTTP {response.status_code}).")
        return True

    def _graph_json(self, http: httpx.Client, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(http, method, self._graph(path), **kwargs)
        if response.status_code != 200:
            try:
                error = response.json().get("error") or {}
            except (ValueError, AttributeError):
                error = {}
            reason = _short(str(error.get("message") or f"HTTP {response.status_code}"))
            raise ExchangeFailed(f"Meta refused the sign-in at its {what} ({reason}). Nothing was saved; try again.")
        return self._json(response, what)


class TikTokProvider(OAuthProvider):
    platform = "tiktok"
    label = "TikTok"
    client_id_setting = "TIKTOK_APP_ID"
    client_secret_setting = "TIKTOK_APP_SECRET"
    pkce = False

    def _api(self, path: str) -> str:
        return settings.TIKTOK_BASE_URL.rstrip("/") + "/open_api/v1.3" + path

    def authorize_endpoint(self) -> str:
        return settings.TIKTOK_AUTH_URL

    def token_endpoint(self) -> str:
        return self._api("/oauth2/access_token/")

    def authorization_url(self, pending: PendingAuthorization) -> str:
        # TikTok's advertiser authorization page names the app `app_id`, not `client_id`.
        params = [("app_id", self.client_id), ("state", pending.state), ("redirect_uri", pending.redirect_uri)]
        return add_params_to_uri(self.authorize_endpoint(), params)

    def callback_code(self, params: dict[str, str]) -> str:
        return params.get("auth_code") or params.get("code", "")

    def token_request(self, *, code: str, pending: PendingAuthorization, http: httpx.Client) -> dict[str, Any]:
        payload = {"app_id": self.client_id, "secret": self.client_secret, "auth_code": code}
        body = self._json(self._send(http, "POST", self.token_endpoint(), json=payload), "token endpoint")
        # TikTok answers HTTP 200 with a non-zero `code` for a refused request.
        if body.get("code") != 0:
            raise ExchangeFailed(
                f"TikTok refused the sign-in ({_short(str(body.get('message') or body.get('code')))}). "
                "Nothing was saved; try again."
            )
        data = body.get("data") or {}
        if not data.get("access_token"):
            raise ExchangeFailed("TikTok issued no access token. Nothing was saved.")
        return dict(data)

    def identify(self, *, token: dict[str, Any], http: httpx.Client) -> OAuthGrant:
        advertisers = sorted(str(a) for a in token.get("advertiser_ids") or [])
        if not advertisers:
            raise ExchangeFailed("TikTok's authorization covered no advertiser account. Nothing was saved.")
        return OAuthGrant(
            platform=self.platform,
            access_token=str(token["access_token"]),
            expires_at=None,  # Marketing API tokens are long-term
            scopes=[str(s) for s in token.get("scope") or []],
            account_id=",".join(advertisers),
            account_name="Advertiser " + ", ".join(advertisers),
            account_extra={"advertiser_ids": advertisers},
        )

    def same_account(self, connected: str, signed_in: str) -> bool:
        # One authorization covers a set of advertisers; the same person may add or drop one.
        return bool(set(connected.split(",")) & set(signed_in.split(",")))

    def revoke(self, *, secrets: dict[str, str], http: httpx.Client) -> bool:
        token = secrets.get("access_token")
        if not token:
            return False
        payload = {"app_id": self.client_id, "secret": self.client_secret, "access_token": token}
        try:
            response = http.post(self._api("/oauth2/revoke_token/"), json=payload)
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            raise RevokeFailed(f"Could not reach TikTok to revoke the token ({type(exc).__name__}).") from None
        if not isinstance(body, dict) or body.get("code") != 0:
            raise RevokeFailed("TikTok did not revoke the token.")
        return True


PROVIDERS: dict[str, OAuthProvider] = {
    p.platform: p for p in (SalesforceProvider(), GoogleProvider(), AsanaProvider(), MetaProvider(), TikTokProvider())
}


def get_provider(platform: str) -> OAuthProvider | None:
    return PROVIDERS.get(platform)


def _short(text: str) -> str:
    return " ".join(str(text).split())[:ERROR_TEXT_MAX]
