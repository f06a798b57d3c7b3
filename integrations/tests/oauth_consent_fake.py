"""A local fake of five platforms' OAuth authorization servers (pytest-httpserver on 127.0.0.1):
a consent page with Allow / Deny buttons that redirects back with code + state, token
endpoints that check the client, the redirect URI and the PKCE verifier against the challenge
for real (RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge), identity endpoints that
need a live access token, and revocation. It speaks each platform's documented JSON:

- Salesforce, "OAuth 2.0 Web Server Flow for Web App Integration"
  (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm):
  /services/oauth2/authorize, /token (answer: access_token, refresh_token, signature, scope,
  instance_url, id, token_type, issued_at; no expires_in), the identity URL `id`
  (user_id, organization_id, username, display_name, email), /services/oauth2/revoke.
  A challenge that does not match the verifier fails with invalid_request, a missing verifier
  with invalid_grant, as that page says.
- Google, "Using OAuth 2.0 for Web Server Applications"
  (https://developers.google.com/identity/protocols/oauth2/web-server): the token answer has
  access_token, expires_in 3599, refresh_token (offline access), scope, token_type "Bearer",
  id_token; errors are {"error", "error_description"}; the OpenID userinfo answers sub, email,
  email_verified, name; POST /revoke with token=….
- Asana, "OAuth" (https://developers.asana.com/docs/oauth): -/oauth_authorize, -/oauth_token
  (access_token, expires_in 3600, token_type "bearer", data {id, gid, name, email},
  refresh_token), -/oauth_revoke (client_id, client_secret, token); GET /api/1.0/users/me.
- Meta, "Manually Build a Login Flow"
  (https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow) and
  "Long-Lived Access Tokens"
  (https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived):
  the dialog returns code + state (a denial: error=access_denied, error_reason=user_denied);
  GET /oauth/access_token with the code answers a short-lived token, with
  grant_type=fb_exchange_token a long-lived one (expires_in 5183944); GET /me, /me/permissions;
  DELETE /me/permissions revokes; errors are {"error": {"message", "type", "code", "fbtrace_id"}}.
- TikTok, Marketing API authorization
  (https://business-api.tiktok.com/portal/docs?id=1738373164380162): the advertiser
  authorization page returns auth_code + state; POST /open_api/v1.3/oauth2/access_token/
  with JSON {app_id, secret, auth_code} answers HTTP 200 {"code": 0, "message": "OK",
  "request_id", "data": {"access_token", "advertiser_ids", "scope"}}; a refusal is HTTP 200
  with a non-zero code; /oauth2/revoke_token/ revokes.

Access tokens are short-lived (Google's and Asana's expires_in), as on the real platforms.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

SF_ORG = "00D5g000004ABCDEAA"
SF_USER = "0055g00000AbCdEAAZ"
SF_INSTANCE = "https://acme.my.salesforce.com"
PKCE_PLATFORMS = ("salesforce", "google", "asana")
CLIENTS = {
    "salesforce": ("3MVG9fake-salesforce-consumer-key", "sf-consumer-secret-123"),
    "google": ("1234567890-fake.apps.googleusercontent.com", "GOCSPX-google-secret-123"),
    "asana": ("1200000000000999", "asana-client-secret-123"),
    "meta": ("987654321012345", "meta-app-secret-123"),
    "tiktok": ("7100000000000000001", "tiktok-app-secret-123"),
}
DEFAULT_USERS: dict[str, dict[str, Any]] = {
    "salesforce": {
        "user_id": SF_USER,
        "organization_id": SF_ORG,
        "username": "sam@acme.example",
        "display_name": "Sam Admin",
        "email": "sam@acme.example",
    },
    "google": {"sub": "110248495921238986420", "email": "sam@acme.example", "name": "Sam Admin"},
    "asana": {"gid": "1199999999999001", "name": "Sam Admin", "email": "sam@acme.example"},
    "meta": {"id": "10158000000000001", "name": "Sam Admin"},
    "tiktok": {"advertiser_ids": ["7000000000000000001", "7000000000000000002"]},
}
GOOGLE_GRANTED = (
    "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/calendar.readonly "
    "https://www.googleapis.com/auth/spreadsheets https://www.googleapis.com/auth/adwords"
)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@dataclass
class Grant:
    platform: str
    user: dict[str, Any]
    revoked: bool = False


@dataclass
class FakeOAuthPlatforms:
    """State shared by every endpoint: codes, tokens, grants, and a log of the calls made."""

    server: HTTPServer
    users: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_USERS.items()})
    redirect_uris: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    revocations: list[tuple[str, str]] = field(default_factory=list)
    # platform -> "invalid_grant" or an HTTP status, for the next token request.
    fail_token: dict[str, str | int] = field(default_factory=dict)
    fail_revoke: dict[str, int] = field(default_factory=dict)
    # platform -> a raw JSON body answered with 200 to the next token request (a broken answer).
    token_body: dict[str, str] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, Grant] = field(default_factory=dict)
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- settings the app uses to find the fake -------------------------------------------
    def settings(self) -> dict[str, Any]:
        url = self.server.url_for
        return {
            "SALESFORCE_LOGIN_URL": url("/salesforce"),
            "GOOGLE_AUTH_URL": url("/google/o/oauth2/v2/auth"),
            "GOOGLE_TOKEN_URL": url("/google/token"),
            "GOOGLE_REVOKE_URL": url("/google/revoke"),
            "GOOGLE_USERINFO_URL": url("/google/v1/userinfo"),
            "ASANA_OAUTH_URL": url("/asana/-/"),
            "ASANA_BASE_URL": url("/asana/api/1.0"),
            "META_DIALOG_URL": url("/meta/v23.0/dialog/oauth"),
            "META_GRAPH_BASE_URL": url("/meta-graph/v23.0"),
            "TIKTOK_AUTH_URL": url("/tiktok/portal/auth"),
            "TIKTOK_BASE_URL": url("/tiktok"),
            "SALESFORCE_CLIENT_ID": CLIENTS["salesforce"][0],
            "SALESFORCE_CLIENT_SECRET": CLIENTS["salesforce"][1],
            "GOOGLE_CLIENT_ID": CLIENTS["google"][0],
            "GOOGLE_CLIENT_SECRET": CLIENTS["google"][1],
            "ASANA_CLIENT_ID": CLIENTS["asana"][0],
            "ASANA_CLIENT_SECRET": CLIENTS["asana"][1],
            "META_APP_ID": CLIENTS["meta"][0],
            "META_APP_SECRET": CLIENTS["meta"][1],
            "TIKTOK_APP_ID": CLIENTS["tiktok"][0],
            "TIKTOK_APP_SECRET": CLIENTS["tiktok"][1],
        }

    def install(self) -> None:
        s = self.server
        for platform, path in (
            ("salesforce", "/salesforce/services/oauth2/authorize"),
            ("google", "/google/o/oauth2/v2/auth"),
            ("asana", "/asana/-/oauth_authorize"),
            ("meta", "/meta/v23.0/dialog/oauth"),
            ("tiktok", "/tiktok/portal/auth"),
        ):
            s.expect_request(path).respond_with_handler(lambda r, p=platform: self.consent(p, r))
        s.expect_request("/salesforce/services/oauth2/token", method="POST").respond_with_handler(
            lambda r: self.token("salesforce", r)
        )
        s.expect_request("/google/token", method="POST").respond_with_handler(lambda r: self.token("google", r))
        s.expect_request("/asana/-/oauth_token", method="POST").respond_with_handler(lambda r: self.token("asana", r))
        s.expect_request(re.compile(r"^/salesforce/id/[^/]+/[^/]+$")).respond_with_handler(self.sf_identity)
        s.expect_request("/google/v1/userinfo").respond_with_handler(self.google_userinfo)
        s.expect_request("/asana/api/1.0/users/me").respond_with_handler(self.asana_me)
        s.expect_request("/meta-graph/v23.0/oauth/access_token").respond_with_handler(self.meta_token)
        s.expect_request("/meta-graph/v23.0/me/permissions", method="DELETE").respond_with_handler(self.meta_revoke)
        s.expect_request("/meta-graph/v23.0/me/permissions").respond_with_handler(self.meta_permissions)
        s.expect_request("/meta-graph/v23.0/me").respond_with_handler(self.meta_me)
        s.expect_request("/tiktok/open_api/v1.3/oauth2/access_token/", method="POST").respond_with_handler(
            self.tiktok_token
        )
        s.expect_request("/tiktok/open_api/v1.3/oauth2/revoke_token/", method="POST").respond_with_handler(
            self.tiktok_revoke
        )
        for platform, path in (
            ("salesforce", "/salesforce/services/oauth2/revoke"),
            ("google", "/google/revoke"),
            ("asana", "/asana/-/oauth_revoke"),
        ):
            s.expect_request(path, method="POST").respond_with_handler(lambda r, p=platform: self.revoke(p, r))

    # --- what a test or a browser does on the consent page --------------------------------
    def approve(self, consent_url: str, *, decision: str = "allow") -> str:
        """Open the consent page and press Allow (or Deny); returns where the fake redirects."""
        page = httpx.get(consent_url)
        assert page.status_code == 200, page.text
        answer = httpx.post(consent_url, data={"decision": decision})
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]

    def calls_to(self, platform: str, endpoint: str) -> list[dict[str, str]]:
        return [params for p, e, params in self.calls if p == platform and e == endpoint]

    def live_tokens(self, platform: str) -> list[str]:
        return [t for t, g in self.tokens.items() if g.platform == platform and not g.revoked]

    # --- endpoints -----------------------------------------------------------------------
    def consent(self, platform: str, request: Request) -> Response:
        query = request.args.to_dict()
        self._log(platform, "authorize", query)
        client_key = "app_id" if platform == "tiktok" else "client_id"
        problem = ""
        if query.get(client_key) != CLIENTS[platform][0]:
            problem = "unknown client"
        elif platform != "tiktok" and query.get("response_type") != "code":
            problem = "response_type must be code"
        elif not query.get("redirect_uri") or query["redirect_uri"] != self.redirect_uris.get(platform):
            problem = f"redirect_uri {query.get('redirect_uri')!r} is not registered for this app"
        elif platform in PKCE_PLATFORMS and (
            not query.get("code_challenge") or query.get("code_challenge_method") != "S256"
        ):
            problem = "PKCE (S256) code_challenge expected"
        elif not query.get("state"):
            problem = "state expected"
        if problem:
            return Response(f"<h1>Error</h1><p>{html.escape(problem)}</p>", status=400, content_type="text/html")
        if request.method == "GET":
            title = f"Fake {platform.title()} — allow Tracker?"
            body = (
                f"<!doctype html><html lang='en'><head><title>{title}</title>"
                "<link rel='icon' href='data:,'></head><body>"
                f"<h1>{title}</h1><p>Tracker asks for: {html.escape(query.get('scope', '(app permissions)'))}</p>"
                "<form method='post'><button name='decision' value='allow' type='submit'>Allow</button> "
                "<button name='decision' value='deny' type='submit'>Deny</button></form></body></html>"
            )
            return Response(body, content_type="text/html")
        back: dict[str, str] = {}
        if request.form.get("decision") == "allow":
            code = self._new("code")
            self.codes[code] = {
                "platform": platform,
                "redirect_uri": query["redirect_uri"],
                "challenge": query.get("code_challenge", ""),
                "user": dict(self.users[platform]),
                "used": False,
            }
            back = {"auth_code": code, "code": code} if platform == "tiktok" else {"code": code}
        else:
            back = {"error": "access_denied", "error_description": "end-user denied authorization"}
            if platform == "meta":
                back.update(error_reason="user_denied", error_code="200")
        back["state"] = query["state"]
        return Response(status=302, headers={"Location": query["redirect_uri"] + "?" + urlencode(back)})

    def token(self, platform: str, request: Request) -> Response:
        form = request.form.to_dict()
        self._log(platform, "token", form)
        failure = self.fail_token.pop(platform, None)
        if isinstance(failure, int):
            return Response("<html>Service Unavailable</html>", status=failure, content_type="text/html")
        if platform in self.token_body:
            return Response(self.token_body.pop(platform), status=200, content_type="application/json")
        if form.get("grant_type") != "authorization_code":
            return _json({"error": "unsupported_grant_type", "error_description": "grant type not supported"}, 400)
        if (form.get("client_id"), form.get("client_secret")) != CLIENTS[platform]:
            return _json({"error": "invalid_client", "error_description": "invalid client credentials"}, 401)
        entry = self.codes.get(form.get("code", ""))
        if failure == "invalid_grant" or entry is None or entry["used"] or entry["platform"] != platform:
            return _json({"error": "invalid_grant", "error_description": "invalid authorization code"}, 400)
        entry["used"] = True  # single use, even when the rest of the request is wrong
        if form.get("redirect_uri") != entry["redirect_uri"]:
            return _json({"error": "redirect_uri_mismatch", "error_description": "redirect_uri must match"}, 400)
        verifier = form.get("code_verifier", "")
        if not verifier:
            return _json({"error": "invalid_grant", "error_description": "code_verifier required"}, 400)
        if s256(verifier) != entry["challenge"]:
            return _json({"error": "invalid_request", "error_description": "invalid code verifier"}, 400)
        grant = Grant(platform, entry["user"])
        access, refresh = self._token(grant, "at"), self._token(grant, "rt")
        user = grant.user
        if platform == "salesforce":
            return _json(
                {
                    "access_token": access,
                    "refresh_token": refresh,
                    "signature": "kA2yP3m7c9SfakeSignature0000000000000000000=",
                    "scope": "refresh_token api",
                    "instance_url": SF_INSTANCE,
                    "id": self.server.url_for(f"/salesforce/id/{user['organization_id']}/{user['user_id']}"),
                    "token_type": "Bearer",
                    "issued_at": "1733337600000",
                }
            )
        if platform == "google":
            return _json(
                {
                    "access_token": access,
                    "expires_in": 3599,
                    "refresh_token": refresh,
                    "scope": GOOGLE_GRANTED,
                    "token_type": "Bearer",
                    "id_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmYWtlIn0.c2lnbmF0dXJl",
                }
            )
        return _json(
            {
                "access_token": access,
                "expires_in": 3600,
                "token_type": "bearer",
                "data": {"id": int(user["gid"]), "gid": user["gid"], "name": user["name"], "email": user["email"]},
                "refresh_token": refresh,
            }
        )

    def sf_identity(self, request: Request) -> Response:
        grant = self._bearer(request)
        self._log("salesforce", "identity", {})
        if grant is None:
            return _json([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)
        user = grant.user
        return _json({"id": request.url, **user, "active": True, "user_type": "STANDARD", "language": "en_US"})

    def google_userinfo(self, request: Request) -> Response:
        grant = self._bearer(request)
        self._log("google", "userinfo", {})
        if grant is None:
            return _json({"error": "invalid_request", "error_description": "Invalid Credentials"}, 401)
        return _json({**grant.user, "email_verified": True})

    def asana_me(self, request: Request) -> Response:
        grant = self._bearer(request)
        self._log("asana", "users/me", request.args.to_dict())
        if grant is None:
            return _json({"errors": [{"message": "Not Authorized"}]}, 401)
        workspaces = [{"gid": "1100000000000001", "name": "Acme", "resource_type": "workspace"}]
        return _json({"data": {**grant.user, "resource_type": "user", "workspaces": workspaces}})

    def revoke(self, platform: str, request: Request) -> Response:
        form = request.form.to_dict()
        self._log(platform, "revoke", form)
        if platform in self.fail_revoke:
            return Response("<html>unavailable</html>", status=self.fail_revoke[platform], content_type="text/html")
        if platform == "asana" and (form.get("client_id"), form.get("client_secret")) != CLIENTS["asana"]:
            return _json({"error": "invalid_client"}, 401)
        grant = self.tokens.get(form.get("token", ""))
        if grant is None or grant.platform != platform:
            return _json({"error": "invalid_token", "error_description": "Token expired or revoked"}, 400)
        self._revoke(grant, form["token"])
        return _json({})

    def meta_token(self, request: Request) -> Response:
        query = request.args.to_dict()
        self._log("meta", "access_token", query)
        failure = self.fail_token.pop("meta", None)
        if isinstance(failure, int):
            return Response("<html>unavailable</html>", status=failure, content_type="text/html")
        if (query.get("client_id"), query.get("client_secret")) != CLIENTS["meta"]:
            return _meta_error("Error validating client secret.", 1)
        if query.get("grant_type") == "fb_exchange_token":
            grant = self.tokens.get(query.get("fb_exchange_token", ""))
            if grant is None or grant.revoked:
                return _meta_error("Error validating access token: The session is invalid.", 190)
            return _json({"access_token": self._token(grant, "long"), "token_type": "bearer", "expires_in": 5183944})
        entry = self.codes.get(query.get("code", ""))
        if failure == "invalid_grant" or entry is None or entry["used"] or entry["platform"] != "meta":
            return _meta_error("This authorization code has been used.", 100)
        entry["used"] = True
        if query.get("redirect_uri") != entry["redirect_uri"]:
            return _meta_error(
                "Error validating verification code. Please make sure your redirect_uri is identical.", 100
            )
        grant = Grant("meta", entry["user"])
        return _json({"access_token": self._token(grant, "short"), "token_type": "bearer", "expires_in": 5400})

    def meta_me(self, request: Request) -> Response:
        grant = self._bearer(request)
        self._log("meta", "me", request.args.to_dict())
        if grant is None:
            return _meta_error("Invalid OAuth access token.", 190)
        return _json({"id": grant.user["id"], "name": grant.user["name"]})

    def meta_permissions(self, request: Request) -> Response:
        grant = self._bearer(request)
        if grant is None:
            return _meta_error("Invalid OAuth access token.", 190)
        names = ("ads_read", "business_management", "public_profile")
        return _json({"data": [{"permission": name, "status": "granted"} for name in names]})

    def meta_revoke(self, request: Request) -> Response:
        token = _bearer_token(request)
        self._log("meta", "revoke", {"token": token})
        if "meta" in self.fail_revoke:
            return Response("<html>unavailable</html>", status=self.fail_revoke["meta"], content_type="text/html")
        grant = self._bearer(request)
        if grant is None:
            return _meta_error("Invalid OAuth access token.", 190)
        self._revoke(grant, token)
        return _json({"success": True})

    def tiktok_token(self, request: Request) -> Response:
        body = json.loads(request.get_data(as_text=True) or "{}")
        self._log("tiktok", "access_token", {k: str(v) for k, v in body.items()})
        failure = self.fail_token.pop("tiktok", None)
        if isinstance(failure, int):
            return Response("<html>unavailable</html>", status=failure, content_type="text/html")
        if (body.get("app_id"), body.get("secret")) != CLIENTS["tiktok"]:
            return _tiktok({}, code=40001, message="The app_id or secret is invalid.")
        entry = self.codes.get(str(body.get("auth_code", "")))
        if failure == "invalid_grant" or entry is None or entry["used"] or entry["platform"] != "tiktok":
            return _tiktok({}, code=40002, message="Auth code is invalid or expired.")
        entry["used"] = True
        grant = Grant("tiktok", entry["user"])
        data = {
            "access_token": self._token(grant, "at"),
            "advertiser_ids": grant.user["advertiser_ids"],
            "scope": [4, 5],
        }
        return _tiktok(data)

    def tiktok_revoke(self, request: Request) -> Response:
        body = json.loads(request.get_data(as_text=True) or "{}")
        self._log("tiktok", "revoke", {k: str(v) for k, v in body.items()})
        if "tiktok" in self.fail_revoke:
            return Response("<html>unavailable</html>", status=self.fail_revoke["tiktok"], content_type="text/html")
        grant = self.tokens.get(str(body.get("access_token", "")))
        if (body.get("app_id"), body.get("secret")) != CLIENTS["tiktok"] or grant is None:
            return _tiktok({}, code=40105, message="The access token is invalid.")
        self._revoke(grant, str(body["access_token"]))
        return _tiktok({})

    # --- helpers ---------------------------------------------------------------------------
    def _new(self, kind: str) -> str:
        with self._lock:
            return f"{kind}-{next(self._counter):04d}-{hashlib.sha256(str(id(self)).encode()).hexdigest()[:12]}"

    def _token(self, grant: Grant, kind: str) -> str:
        token = self._new(f"{grant.platform}-{kind}")
        self.tokens[token] = grant
        return token

    def _bearer(self, request: Request) -> Grant | None:
        grant = self.tokens.get(_bearer_token(request))
        return None if grant is None or grant.revoked else grant

    def _revoke(self, grant: Grant, token: str) -> None:
        grant.revoked = True  # the whole grant: its access and refresh tokens
        self.revocations.append((grant.platform, token))

    def _log(self, platform: str, endpoint: str, params: dict[str, str]) -> None:
        with self._lock:
            self.calls.append((platform, endpoint, params))


def _bearer_token(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else ""


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _meta_error(message: str, code: int) -> Response:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGhIjK"}
    return _json({"error": error}, 400)


def _tiktok(data: dict[str, Any], *, code: int = 0, message: str = "OK") -> Response:
    return _json({"code": code, "message": message, "request_id": "20261204180000FAKE", "data": data})


# --- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def oauth_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


def install_fake(
    server: HTTPServer, settings: Any, monkeypatch: pytest.MonkeyPatch, site_url: str
) -> FakeOAuthPlatforms:
    """Point the app's OAuth settings at a fresh fake; register SITE_URL's callbacks with it."""
    server.clear()
    fake = FakeOAuthPlatforms(server)
    fake.install()
    for name, value in fake.settings().items():
        setattr(settings, name, value)
    settings.SITE_URL = site_url
    fake.redirect_uris = {p: f"{site_url.rstrip('/')}/connections/{p}/callback" for p in CLIENTS}
    # oauthlib refuses http:// endpoints unless told this is a local test.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    assert urlsplit(server.url_for("/")).hostname == "127.0.0.1"
    return fake


@pytest.fixture
def oauth_fake(
    oauth_server: HTTPServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeOAuthPlatforms]:
    fake = install_fake(oauth_server, settings, monkeypatch, "http://testserver")
    yield fake
    oauth_server.clear()
