"""Connecting an account through the platform's OAuth consent: the pending authorization kept in
the person's session, and what a finished authorization yields (`OAuthGrant`).

The flow (RFC 6749 §4.1, with PKCE, RFC 7636, where the platform supports it):
1. `authorization_begin` makes a single-use `state` and, for PKCE platforms, a code verifier
   (both from oauthlib, a maintained OAuth library: no home-made randomness or hashing), keeps
   them in the session for ten minutes and returns the platform's consent URL.
2. The platform sends the browser back to /connections/<platform>/callback with `code` and
   `state`. `authorization_take` accepts the state only once, only in the session that started
   it, only for that platform and only within ten minutes; anything else is `StateInvalid`.
3. The platform module (`integrations/oauth_providers.py`) exchanges the code, fetches the
   identity and returns an `OAuthGrant`; `integrations/connect.py` saves it.

Redirect URIs are SITE_URL + /connections/<platform>/callback, the value registered with each
platform's OAuth app. Nothing in this module writes to the database.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.urls import reverse
from django.utils import timezone
from oauthlib.common import generate_token
from oauthlib.oauth2 import WebApplicationClient

SESSION_KEY = "connections_oauth"
STATE_TTL_SECONDS = 600
# A person who opens several consent pages keeps each one valid; older ones are dropped.
MAX_PENDING = 5
PKCE_VERIFIER_LENGTH = 64
# The clock the state's age is measured with (tests move it forward).
_clock: Callable[[], float] = time.time


class OAuthFlowError(Exception):
    """A connection attempt that cannot finish. The message is for people and holds no secret."""


class StateInvalid(OAuthFlowError):
    """The callback's `state` is unknown to this session, used already, expired or for another platform."""


class ConsentDenied(OAuthFlowError):
    """The person declined on the platform's consent page (`error=access_denied`)."""


class ExchangeFailed(OAuthFlowError):
    """The platform refused the code, or its token or identity endpoint failed."""


class NotConfigured(OAuthFlowError):
    """The platform's OAuth client id or secret is not set."""


class RevokeFailed(OAuthFlowError):
    """The platform did not confirm the revocation (the local secrets are deleted anyway)."""


@dataclass(frozen=True)
class PendingAuthorization:
    """What the callback needs from the start of the flow."""

    platform: str
    state: str
    code_verifier: str
    connection_id: int | None
    redirect_uri: str


@dataclass
class OAuthGrant:
    """A finished authorization: tokens plus who they belong to. `repr` never shows a token."""

    platform: str
    access_token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: dt.datetime | None = None
    scopes: list[str] = field(default_factory=list)
    account_id: str = ""
    account_name: str = ""
    account_email: str = ""
    account_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return (self.account_name or self.account_email or self.account_id)[:100]

    @property
    def account(self) -> str:
        return self.account_name or self.account_email or self.account_id

    def secrets(self) -> dict[str, str]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token}


def redirect_uri(platform: str) -> str:
    """The callback URL registered with the platform: SITE_URL + /connections/<platform>/callback."""
    return settings.SITE_URL.rstrip("/") + reverse("connection_callback", args=[platform])


def expires_at_from(expires_in: Any) -> dt.datetime | None:
    """An aware expiry from a token answer's `expires_in` (seconds); None when absent or bad."""
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    return timezone.now() + dt.timedelta(seconds=seconds)


def authorization_begin(
    *, session: SessionBase, platform: str, pkce: bool, connection_id: int | None = None
) -> PendingAuthorization:
    """Start an authorization: a new single-use state (and PKCE verifier) kept in `session`.

    Returns the pending authorization; the caller turns it into the platform's consent URL.
    """
    now = _clock()
    data = _session_data(session, now)
    pending = PendingAuthorization(
        platform=platform,
        state=generate_token(length=43),
        code_verifier=WebApplicationClient("").create_code_verifier(PKCE_VERIFIER_LENGTH) if pkce else "",
        connection_id=connection_id,
        redirect_uri=redirect_uri(platform),
    )
    data["pending"][pending.state] = {
        "platform": platform,
        "verifier": pending.code_verifier,
        "connection_id": connection_id,
        "redirect_uri": pending.redirect_uri,
        "created": now,
    }
    # Keep only the newest few, so an abandoned consent page cannot grow the session.
    newest = sorted(data["pending"].items(), key=lambda item: item[1]["created"], reverse=True)
    data["pending"] = dict(newest[:MAX_PENDING])
    _session_save(session, data)
    return pending


def authorization_take(*, session: SessionBase, platform: str, state: str) -> PendingAuthorization:
    """Accept the callback's `state` once. Returns the pending authorization it belongs to.

    Raises StateInvalid (with a message saying which case) for a missing, replayed, expired,
    foreign (another session's) or other-platform state. The state is spent either way.
    """
    now = _clock()
    data = _session_data(session, now, keep_expired=True)
    if not state:
        raise StateInvalid("The platform's answer had no state, so it cannot be trusted. Nothing was saved.")
    entry = data["pending"].pop(state, None)
    if entry is None:
        _session_save(session, _expire(data, now))
        if state in data["used"]:
            raise StateInvalid("That sign-in answer was already used. Nothing was saved; start again from Connect.")
        raise StateInvalid(
            "That sign-in answer was not started from this browser session. Nothing was saved; "
            "start again from Connect."
        )
    data["used"][state] = now
    _session_save(session, _expire(data, now))
    if now - float(entry["created"]) > STATE_TTL_SECONDS:
        raise StateInvalid(
            f"The sign-in took longer than {STATE_TTL_SECONDS // 60} minutes and expired. Nothing was "
            "saved; start again from Connect."
        )
    if entry["platform"] != platform:
        raise StateInvalid("That sign-in answer belongs to another platform. Nothing was saved.")
    return PendingAuthorization(
        platform=platform,
        state=state,
        code_verifier=str(entry.get("verifier") or ""),
        connection_id=entry.get("connection_id"),
        redirect_uri=str(entry["redirect_uri"]),
    )


def _session_data(session: SessionBase, now: float, *, keep_expired: bool = False) -> dict[str, dict[str, Any]]:
    raw = session.get(SESSION_KEY)
    data: dict[str, dict[str, Any]] = {"pending": {}, "used": {}}
    if isinstance(raw, dict):
        data["pending"] = dict(raw.get("pending") or {})
        data["used"] = dict(raw.get("used") or {})
    return data if keep_expired else _expire(data, now)


def _expire(data: dict[str, dict[str, Any]], now: float) -> dict[str, dict[str, Any]]:
    # An expired pending state is kept one more TTL so its callback can say "expired".
    data["pending"] = {s: e for s, e in data["pending"].items() if now - float(e["created"]) <= 2 * STATE_TTL_SECONDS}
    data["used"] = {s: t for s, t in data["used"].items() if now - float(t) <= STATE_TTL_SECONDS}
    return data


def _session_save(session: SessionBase, data: dict[str, dict[str, Any]]) -> None:
    session[SESSION_KEY] = data
    session.modified = True
