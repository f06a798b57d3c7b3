"""Local fakes of the platforms' HTTP APIs (pytest-httpserver on 127.0.0.1), in their real JSON
shapes, and the settings that point the connectors at them.

Who is responsible, as each platform says it: a Salesforce Task always has an owner (a user or a
queue), selected as `Owner.Email` and returned as a nested record through the polymorphic Name
object (developer.salesforce.com, Object Reference, "Name"); an Asana task's `assignee` is null or
the user's compact record, with `email` when opt_fields asks for `assignee.email`
(developers.asana.com/docs/inputoutput-options); a Calendar event's `organizer` has `email`,
`displayName` and `self` (developers.google.com/calendar/api/v3/reference/events).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

API_VERSION = "64.0"
SF_QUERY_PATH = f"/services/data/v{API_VERSION}/queryAll"
ACCOUNT = "001000000000001AAA"
OTHER_ACCOUNT = "001000000000002AAA"
PROJECT = "1200000000000001"
CALENDAR = "sponsor@group.calendar.google.com"
CALENDAR_PATH = "/calendar/v3/calendars/sponsor@group.calendar.google.com/events"  # as the server decodes it


@pytest.fixture(scope="session")
def platform_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def platform(platform_server: HTTPServer) -> Iterator[HTTPServer]:
    """A fake platform on 127.0.0.1 (threaded, so a slow reply does not block the retry)."""
    platform_server.clear()
    yield platform_server
    platform_server.clear()


class SleepRecorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def live_salesforce(settings: Any, platform: HTTPServer) -> HTTPServer:
    settings.SALESFORCE_INSTANCE_URL = platform.url_for("").rstrip("/")
    settings.SALESFORCE_ACCESS_TOKEN = "sf-token"
    settings.SALESFORCE_API_VERSION = API_VERSION
    return platform


@pytest.fixture
def live_asana(settings: Any, platform: HTTPServer) -> HTTPServer:
    settings.ASANA_BASE_URL = platform.url_for("/api/1.0")
    settings.ASANA_ACCESS_TOKEN = "asana-token"
    return platform


@pytest.fixture
def live_calendar(settings: Any, platform: HTTPServer) -> HTTPServer:
    settings.GOOGLE_CALENDAR_BASE_URL = platform.url_for("/calendar/v3")
    settings.GOOGLE_ACCESS_TOKEN = "google-token"
    settings.GOOGLE_SERVICE_ACCOUNT_FILE = ""
    return platform


@pytest.fixture
def no_credentials(settings: Any) -> None:
    for name in (
        "SALESFORCE_INSTANCE_URL",
        "SALESFORCE_ACCESS_TOKEN",
        "ASANA_ACCESS_TOKEN",
        "GOOGLE_ACCESS_TOKEN",
        "GOOGLE_SERVICE_ACCOUNT_FILE",
    ):
        setattr(settings, name, "")


# --- Salesforce ---------------------------------------------------------------------------------
def sf_task(
    record_id: str,
    subject: str | None = "Send deck",
    *,
    status: str = "Not Started",
    priority: str = "Normal",
    date: str | None = "2030-05-01",
    closed: bool | None = None,
    description: str | None = None,
    owner_email: str | None = "sales.rep@partner.example",
) -> dict[str, Any]:
    return {
        "attributes": {"type": "Task", "url": f"/services/data/v{API_VERSION}/sobjects/Task/{record_id}"},
        "Id": record_id,
        "Subject": subject,
        "Status": status,
        "Priority": priority,
        "ActivityDate": date,
        "Description": description,
        "IsClosed": status == "Completed" if closed is None else closed,
        "LastModifiedDate": "2030-01-01T10:00:00.000+0000",
        # A queue-owned task has an owner with no e-mail (None here).
        "Owner": {
            "attributes": {"type": "Name", "url": f"/services/data/v{API_VERSION}/sobjects/User/005000000000001AAA"},
            "Email": owner_email,
        },
    }


def sf_page(records: list[dict[str, Any]], *, next_locator: str | None = None, total: int | None = None) -> dict:
    body: dict[str, Any] = {
        "totalSize": total if total is not None else len(records),
        "done": next_locator is None,
        "records": records,
    }
    if next_locator:
        body["nextRecordsUrl"] = f"{SF_QUERY_PATH}/{next_locator}"
    return body


def sf_id(n: int) -> str:
    return f"00T{n:015d}"


def serve_salesforce(server: HTTPServer, pages: list[list[dict[str, Any]]]) -> None:
    """Serve `pages` as one query: the first from /query, the next ones from their locators."""
    for index, records in enumerate(pages):
        locator = f"01gFAKE-{(index + 1) * 2000}" if index + 1 < len(pages) else None
        path = SF_QUERY_PATH if index == 0 else f"{SF_QUERY_PATH}/01gFAKE-{index * 2000}"
        server.expect_request(path, method="GET").respond_with_json(sf_page(records, next_locator=locator))


# --- Asana --------------------------------------------------------------------------------------
def asana_task(
    gid: str,
    name: str = "Design kit",
    *,
    completed: bool = False,
    section: str | None = "To do",
    due_on: str | None = "2030-06-01",
    due_at: str | None = None,
    priority: str | None = None,
    assignee_email: str | None = None,
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "gid": gid,
        "resource_type": "task",
        "name": name,
        "completed": completed,
        "completed_at": None,
        "due_on": due_on,
        "due_at": due_at,
        "notes": "",
        "permalink_url": f"https://app.asana.com/0/{PROJECT}/{gid}",
        "modified_at": "2030-01-01T00:00:00.000Z",
        "memberships": [{"project": {"gid": PROJECT}, "section": {"name": section}}] if section else [],
        "custom_fields": [],
        "assignee": {"gid": "1200000000000777", "email": assignee_email} if assignee_email else None,
    }
    if priority:
        task["custom_fields"] = [{"gid": "1", "name": "Priority", "enum_value": {"gid": "2", "name": priority}}]
    return task


def asana_page(tasks: list[dict[str, Any]], *, offset: str | None = None) -> dict[str, Any]:
    next_page = None
    if offset:
        path = f"/tasks?project={PROJECT}&limit=100&offset={offset}"
        next_page = {"offset": offset, "path": path, "uri": f"https://app.asana.com/api/1.0{path}"}
    return {"data": tasks, "next_page": next_page}


# --- Google Calendar ----------------------------------------------------------------------------
def gcal_event(
    event_id: str,
    summary: str = "Kick-off",
    *,
    start: dict[str, str] | None = None,
    status: str = "confirmed",
    organizer_email: str = CALENDAR,
) -> dict[str, Any]:
    start = start or {"dateTime": "2030-07-01T10:00:00+02:00", "timeZone": "Europe/Berlin"}
    return {
        "kind": "calendar#event",
        "etag": '"1"',
        "id": event_id,
        "status": status,
        "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
        "created": "2030-01-01T00:00:00.000Z",
        "updated": "2030-01-01T00:00:00.000Z",
        "summary": summary,
        "organizer": {"email": organizer_email, "displayName": "Sponsor", "self": organizer_email == CALENDAR},
        "start": start,
        "end": start,
    }


def gcal_cancelled(event_id: str) -> dict[str, Any]:
    return {"kind": "calendar#event", "etag": '"2"', "id": event_id, "status": "cancelled"}


def gcal_page(
    items: list[dict[str, Any]], *, page_token: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "calendar#events", "summary": CALENDAR, "items": items}
    if page_token:
        body["nextPageToken"] = page_token
    if sync_token:
        body["nextSyncToken"] = sync_token
    return body


def google_error(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [
                {"domain": "usageLimits" if "imit" in reason else "global", "reason": reason, "message": message}
            ],
        }
    }
