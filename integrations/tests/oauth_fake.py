"""A fake OAuth token server on 127.0.0.1 speaking each platform's real token JSON.

- Salesforce refresh answer: access_token, instance_url, id (the identity URL), issued_at,
  signature, scope, token_type — and no expires_in (the session timeout is the org's)
  (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm).
  With rotation on, a new refresh_token comes too.
- Google refresh answer: access_token, expires_in 3599, scope, token_type "Bearer"; no new
  refresh_token (https://developers.google.com/identity/protocols/oauth2/web-server#offline).
- Asana: access_token, expires_in 3600, token_type "bearer", data {id, gid, name, email}
  (https://developers.asana.com/docs/oauth).
- A refused refresh token: HTTP 400 {"error": "invalid_grant", "error_description": ...}
  (RFC 6749 §5.2; Google says "Token has been expired or revoked.", Salesforce
  "expired access/refresh token").
- A Google service-account JWT bearer grant (RFC 7523) answers access_token + expires_in 3599.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug import Request, Response

SF_INSTANCE = "https://acme.my.salesforce.com"


@dataclass
class TokenServer:
    """Stateful: which refresh tokens are valid, what each refresh issued, and a log of calls."""

    platform: str
    refresh_tokens: set[str] = field(default_factory=set)
    rotate: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    hold: threading.Event | None = None
    failure_status: int | None = None
    instance_url: str = SF_INSTANCE
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        with self._lock:
            self.calls.append(form)
        if self.hold is not None:
            self.hold.wait(10)
        if self.failure_status is not None:
            return Response("<html>unavailable</html>", status=self.failure_status, content_type="text/html")
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            token = self._issue()
            return _json({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
        if grant != "refresh_token":
            return _json({"error": "unsupported_grant_type", "error_description": "grant type not supported"}, 400)
        if form.get("refresh_token") not in self.refresh_tokens:
            description = {
                "google": "Token has been expired or revoked.",
                "salesforce": "expired access/refresh token",
            }.get(self.platform, "The refresh token is invalid or expired.")
            return _json({"error": "invalid_grant", "error_description": description}, 400)
        token = self._issue()
        if self.platform == "salesforce":
            body: dict[str, Any] = {
                "access_token": token,
                "signature": "9Zq0Ld0nQ2FA5jqX0Zx2YbHcD8aQ1v1m1V0Xh2n0eE4=",
                "scope": "refresh_token api",
                "instance_url": self.instance_url,
                "id": "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001Sv6AAAS",
                "token_type": "Bearer",
                "issued_at": "1733337600000",
            }
            if self.rotate:
                new_refresh = f"5Aep861-rotated-{token}"
                with self._lock:
                    self.refresh_tokens.discard(form["refresh_token"])
                    self.refresh_tokens.add(new_refresh)
                body["refresh_token"] = new_refresh
            return _json(body)
        if self.platform == "asana":
            return _json(
                {
                    "access_token": token,
                    "expires_in": 3600,
                    "token_type": "bearer",
                    "data": {
                        "id": 4673218951,
                        "gid": "4673218951",
                        "name": "Greg Sanchez",
                        "email": "gsanchez@example.com",
                    },
                }
            )
        return _json(
            {
                "access_token": token,
                "expires_in": 3599,
                "scope": "https://www.googleapis.com/auth/calendar.readonly",
                "token_type": "Bearer",
            }
        )

    def _issue(self) -> str:
        with self._lock:
            token = f"ya29.a0-fresh-{self.platform}-{next(self._counter):04d}-XyZ"
            self.issued.append(token)
        return token

    def refreshes(self) -> int:
        return sum(1 for call in self.calls if call.get("grant_type") == "refresh_token")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
