"""Google Calendar: the events of a sponsor's calendar, as tasks due at the event's start.

GET {GOOGLE_CALENDAR_BASE_URL}/calendars/ID/events?singleEvents=true with a Bearer token; pages
follow `nextPageToken`; the last page's `nextSyncToken` makes the next pull incremental (only
changed events, deletions as status "cancelled"); 410 Gone means the token expired: full pull.
An event's `organizer` ({"email", "displayName", "self"}) is taken as the task's assignee;
https://developers.google.com/calendar/api/v3/reference/events (organizer.email).
Rate limits: 403 with reason rateLimitExceeded / userRateLimitExceeded, or 429.
Settings: GOOGLE_CALENDAR_BASE_URL (default https://www.googleapis.com/calendar/v3), and
GOOGLE_ACCESS_TOKEN or GOOGLE_SERVICE_ACCOUNT_FILE (a service account key, JSON).
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from integrations.connectors.base import (
    AuthError,
    Connector,
    ConnectorError,
    ExternalTask,
    Identity,
    Page,
    RateLimitError,
    RecordError,
    SyncTokenExpired,
    clean_email,
    clean_id,
    clean_text,
    clean_title,
    clean_url,
    json_body,
    parse_date,
    parse_datetime,
)
from integrations.http import parse_retry_after

DEFAULT_BASE_URL = "https://www.googleapis.com/calendar/v3"
SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
MAX_RESULTS = 250
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}

# Event status → task status. Cancelled events are deletions (the task is marked removed).
STATUS_MAP = {"confirmed": "todo", "tentative": "todo"}


class GoogleCalendarConnector(Connector):
    key = "google_calendar"
    platform = "google"
    label = "Google Calendar"
    credential_settings = ("GOOGLE_ACCESS_TOKEN", "GOOGLE_SERVICE_ACCOUNT_FILE")
    supports_cursor = True

    @classmethod
    def configured_with(cls, connection: Any) -> bool:
        if connection is None:
            return False
        if connection.is_environment:
            names = ("GOOGLE_ACCESS_TOKEN", "GOOGLE_SERVICE_ACCOUNT_FILE")
            return any(getattr(settings, name, "") for name in names)
        return True

    def environment_token(self) -> str:
        token = str(getattr(settings, "GOOGLE_ACCESS_TOKEN", "") or "")
        if token:
            return token
        return _service_account_token(str(settings.GOOGLE_SERVICE_ACCOUNT_FILE))

    def token_scopes(self) -> tuple[str, ...]:
        return (SCOPE,)

    def configured_base_url(self) -> str:
        return str(getattr(settings, "GOOGLE_CALENDAR_BASE_URL", "") or DEFAULT_BASE_URL).rstrip("/")

    def demo_base_url(self) -> str:
        return DEFAULT_BASE_URL

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def pull(self, *, target: str, cursor: str | None = None) -> Iterator[Page]:
        """Events of calendar `target`: every event without `cursor`, else only the changes since.
        The last page carries the next sync token. Raises ConnectorError, SyncTokenExpired on 410."""
        if not target or len(target) > 255 or any(ord(c) < 32 for c in target):
            raise ConnectorError(f"{target[:50]!r} is not a Google Calendar id.")
        url = f"{self.base_url}/calendars/{quote(target, safe='')}/events"
        params: dict[str, Any] = {"singleEvents": "true", "maxResults": MAX_RESULTS}
        full = not cursor
        if cursor:
            params["syncToken"] = cursor
        while True:
            body = json_body(self.get(url, params=params), platform=self.label)
            if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
                raise ConnectorError("Google Calendar answered without an items list.")
            # Every page of an events list carries nextPageToken or, on the last, nextSyncToken:
            # an object with neither and no items is not an empty calendar (a full pull would
            # mark every event removed).
            if "items" not in body and not body.get("nextPageToken") and not body.get("nextSyncToken"):
                raise ConnectorError("Google Calendar answered without an items list or a page or sync token.")
            page = Page(full=full)
            for raw in body.get("items", []):
                self._parse_into(page, raw)
            token = body.get("nextPageToken")
            if not token:
                page.next_cursor = body.get("nextSyncToken") or None
                yield page
                return
            yield page
            params = {**params, "pageToken": token}

    def _parse_into(self, page: Page, raw: Any) -> None:
        event_id = clean_id(raw.get("id")) if isinstance(raw, dict) else None
        if event_id is None:
            page.errors.append(RecordError("Event has no id.", raw=raw))
            return
        if raw.get("status") == "cancelled":
            page.removed_ids.append(event_id)
            return
        try:
            start = raw.get("start")
            if not isinstance(start, dict):
                raise ValueError("event has no start")
            if start.get("dateTime"):
                due_at = parse_datetime(start["dateTime"])
            elif start.get("date"):
                due_at = parse_date(start["date"])
            else:
                raise ValueError("event start has neither dateTime nor date")
            page.records.append(
                ExternalTask(
                    external_id=event_id,
                    title=clean_title(raw.get("summary"), fallback="(no title)"),
                    status=STATUS_MAP.get(str(raw.get("status") or "confirmed"), "todo"),
                    due_at=due_at,
                    description=clean_text(raw.get("description")),
                    external_url=clean_url(raw.get("htmlLink")),
                    assignee_email=clean_email((raw.get("organizer") or {}).get("email")),
                )
            )
        except (TypeError, ValueError, AttributeError) as exc:
            page.errors.append(RecordError(f"Unreadable event: {exc}", external_id=event_id, raw=raw))

    def whoami(self) -> Identity:
        """The connection's Google identity: its calendar list answers with the token (GET
        /users/me/calendarList?maxResults=1); the primary calendar's id is the account e-mail."""
        body = json_body(
            self.get(f"{self.base_url}/users/me/calendarList", params={"maxResults": 1, "minAccessRole": "reader"}),
            platform=self.label,
        )
        if not isinstance(body, dict):
            raise ConnectorError("Google Calendar answered calendarList without an object.")
        connection = self.connection
        email = connection.account_email if connection is not None else ""
        return Identity(account_id=(connection.account_id if connection else "") or email, account_email=email)

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        if response.is_success:
            return None
        status = response.status_code
        reasons, message = _error_of(response)
        text = f"Google Calendar HTTP {status}: {message}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 401:
            return AuthError(text, status_code=status)
        if status == 410:
            return SyncTokenExpired(text, status_code=status)
        if status == 429 or (status == 403 and reasons & RATE_LIMIT_REASONS):
            return RateLimitError(text, retry_after=retry_after, status_code=status)
        if status >= 500:
            return ConnectorError(text, retryable=True, retry_after=retry_after, status_code=status)
        return ConnectorError(text, status_code=status)

    def simulator(self) -> httpx.BaseTransport:
        return httpx.MockTransport(_simulate)


def _error_of(response: httpx.Response) -> tuple[set[str], str]:
    try:
        error = response.json().get("error") or {}
        reasons = {str(e.get("reason", "")) for e in error.get("errors") or [] if isinstance(e, dict)}
        return reasons, str(error.get("message", ""))[:300] or "error"
    except (ValueError, AttributeError):
        return set(), response.text[:200] or response.reason_phrase


# --- service account: a signed JWT exchanged for an access token (no Google library needed) --
_token_cache: dict[str, tuple[str, float]] = {}
_token_lock = threading.Lock()


def _service_account_token(path: str) -> str:
    """An access token for the service-account key file at `path` (GOOGLE_SERVICE_ACCOUNT_FILE),
    from google-auth (token_uri = GOOGLE_TOKEN_URL), cached until a minute before expiry.
    Raises AuthError, ConnectorError."""
    from integrations.tokens import service_account_exchange

    with _token_lock:
        cached = _token_cache.get(path)
        if cached and cached[1] > time.time() + 60:
            return cached[0]
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise AuthError(f"Cannot use GOOGLE_SERVICE_ACCOUNT_FILE: {type(exc).__name__}: {exc}") from None
    try:
        token, expiry = service_account_exchange(text, scopes=(SCOPE,))
    except AuthError as exc:
        raise AuthError(f"Cannot use GOOGLE_SERVICE_ACCOUNT_FILE: {exc}") from None
    with _token_lock:
        _token_cache[path] = (token, expiry)
    return token


# --- demo: a living calendar ------------------------------------------------------------------
_DEMO_EVENTS = (
    "Sponsor kick-off call",
    "Booth walkthrough",
    "Logo approval deadline",
    "Quarterly business review",
    "Partner dinner",
    "Keynote rehearsal",
    "Contract renewal meeting",
    "Post-event debrief",
)
_DEMO_PAGE = 4
# The demo user (seed_demo), and the sponsor's own calendar (which is no user of ours).
_DEMO_ORGANIZERS = (
    {"email": "demo@example.com", "displayName": "Demo", "self": False},
    {"email": "sponsor.events@group.calendar.google.com", "displayName": "Sponsor events", "self": True},
)


def _demo_events(calendar: str) -> list[dict[str, Any]]:
    rng = random.Random(f"gcal:{calendar}")
    today = dt.date.today()
    bucket = int(dt.datetime.now(dt.UTC).timestamp() // 600)
    events = []
    for index in range(rng.randint(4, 8)):
        day = today + dt.timedelta(days=rng.randint(-7, 28) if index else bucket % 3)
        start: dict[str, str]
        if rng.random() < 0.3:
            start = {"date": day.isoformat()}
        else:
            start = {"dateTime": f"{day.isoformat()}T{rng.randint(8, 17):02d}:00:00Z", "timeZone": "UTC"}
        event_id = f"demo{zlib.crc32(calendar.encode()):010d}{index:03d}"
        events.append(
            {
                "kind": "calendar#event",
                "etag": f'"{bucket}{index}"',
                "id": event_id,
                "status": rng.choice(("confirmed", "confirmed", "tentative")),
                "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
                "summary": rng.choice(_DEMO_EVENTS),
                "description": "Demo event from the built-in Google Calendar simulator.",
                "updated": "2024-01-01T00:00:00.000Z",
                "start": start,
                "end": start,
                "organizer": _DEMO_ORGANIZERS[index % len(_DEMO_ORGANIZERS)],
            }
        )
    return events


def _simulate(request: httpx.Request) -> httpx.Response:
    parts = request.url.path.split("/")
    if len(parts) < 3 or parts[-1] != "events" or parts[-3] != "calendars":
        return httpx.Response(404, json={"error": {"code": 404, "message": "Not Found"}})
    calendar = parts[-2]
    events = _demo_events(calendar)
    sync_token = f"demo-sync-{int(time.time())}"
    if request.url.params.get("syncToken"):
        # Incremental: the one event that moves is always reported as changed.
        body = {"kind": "calendar#events", "items": events[:1], "nextSyncToken": sync_token}
        return httpx.Response(200, json=body)
    offset = int(request.url.params.get("pageToken", "0") or 0)
    chunk = events[offset : offset + _DEMO_PAGE]
    body: dict[str, Any] = {"kind": "calendar#events", "summary": calendar, "items": chunk}
    if offset + _DEMO_PAGE < len(events):
        body["nextPageToken"] = str(offset + _DEMO_PAGE)
    else:
        body["nextSyncToken"] = sync_token
    return httpx.Response(200, json=body)
