"""The circuit breaker of the scheduled pull, on a simulated clock, against a fake Salesforce
(pytest-httpserver on 127.0.0.1) that answers 500 with its documented error body
(developer.salesforce.com, REST API Developer Guide, "Status Codes and Error Responses":
a JSON array of {"message", "errorCode"})."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from werkzeug import Response

from conftest import SimClock
from integrations.models import ConnectorState, SyncRun
from integrations.tests.fakes import SF_QUERY_PATH, sf_page, sf_task
from sponsors.jobs import sponsor_pull_all
from sponsors.tests.factories import SponsorFactory
from tasks.models import Notification

pytestmark = pytest.mark.django_db

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def inline(settings: Any) -> None:
    settings.SYNC_BACKOFF_BASE = 0
    settings.SYNC_MAX_ATTEMPTS = 2
    settings.SYNC_JOBS_INLINE = True
    settings.SYNC_BREAKER_THRESHOLD = 5
    settings.SYNC_BREAKER_MAX_MINUTES = 60


class Salesforce:
    """The fake org's query endpoint: 500 while `down`, one task otherwise."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.down = True
        server.expect_request(SF_QUERY_PATH).respond_with_handler(self.handle)

    def handle(self, request: Any) -> Response:
        if self.down:
            body = [{"message": "An unexpected error occurred.", "errorCode": "UNKNOWN_EXCEPTION"}]
            return Response(json.dumps(body), status=500, content_type="application/json")
        return Response(json.dumps(sf_page([sf_task("00TAAAAAAAAAAAAAAA")])), content_type="application/json")

    @property
    def calls(self) -> int:
        return sum(1 for request, _ in self.server.log if request.path == SF_QUERY_PATH)


@pytest.fixture
def salesforce(live_salesforce: Any, inline: None) -> Salesforce:
    return Salesforce(live_salesforce)


def tick(clock: SimClock, at: dt.datetime, django_capture_on_commit_callbacks: Any) -> int:
    """One scheduled minute: the schedule's job at `at`, its queued pulls run inline."""
    clock.current = at
    with django_capture_on_commit_callbacks(execute=True):
        return sponsor_pull_all(now=at)


def breaker_notices() -> list[Notification]:
    return list(Notification.objects.filter(kind=Notification.Kind.SYNC_FAILED, payload__reason="breaker_open"))


def test_a_platform_failing_ten_times_in_a_row_is_called_far_less_than_every_minute(
    salesforce: Salesforce, clock: SimClock, staff_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sponsor = SponsorFactory(asana_project_gid="", google_calendar_id="")
    start = clock.current
    ran_at = []
    for minute in range(60):
        if tick(clock, start + minute * MINUTE, django_capture_on_commit_callbacks):
            ran_at.append(minute)

    # Every minute until the 5th failure, then one probe after 1, 2, 4, 8, 16 minutes.
    assert ran_at == [0, 1, 2, 3, 4, 5, 7, 11, 19, 35]
    runs = SyncRun.objects.filter(connector="salesforce", scope=sponsor.sync_scope)
    assert runs.count() == 10 and set(runs.values_list("status", flat=True)) == {"failed"}
    # Two attempts per run (SYNC_MAX_ATTEMPTS): 20 calls instead of the schedule's 120.
    assert salesforce.calls == 20
    state = ConnectorState.objects.get(connector="salesforce", scope=sponsor.sync_scope)
    assert state.consecutive_failures == 10
    assert state.breaker_open_until == start + 35 * MINUTE + 32 * MINUTE
    # Staff heard once that the pull failed (existing) and once that the breaker opened.
    notices = breaker_notices()
    assert len(notices) == 1 and notices[0].recipient == staff_user
    assert "paused after 5 failures" in notices[0].message
    assert Notification.objects.filter(kind=Notification.Kind.SYNC_FAILED).count() == 2


def test_the_back_off_is_capped_at_the_configured_maximum(
    salesforce: Salesforce, clock: SimClock, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SYNC_BREAKER_THRESHOLD = 2
    settings.SYNC_BREAKER_MAX_MINUTES = 3
    SponsorFactory(asana_project_gid="", google_calendar_id="")
    start = clock.current
    ran_at = [m for m in range(20) if tick(clock, start + m * MINUTE, django_capture_on_commit_callbacks)]
    assert ran_at == [0, 1, 2, 4, 7, 10, 13, 16, 19]


def test_a_probe_that_succeeds_closes_the_breaker_and_resets_the_count(
    salesforce: Salesforce, clock: SimClock, staff_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sponsor = SponsorFactory(asana_project_gid="", google_calendar_id="")
    start = clock.current
    for minute in range(5):
        assert tick(clock, start + minute * MINUTE, django_capture_on_commit_callbacks) == 1
    state = ConnectorState.objects.get(connector="salesforce", scope=sponsor.sync_scope)
    assert state.consecutive_failures == 5 and state.breaker_open_until == start + 5 * MINUTE
    assert tick(clock, start + 4 * MINUTE + dt.timedelta(seconds=30), django_capture_on_commit_callbacks) == 0

    salesforce.down = False
    assert tick(clock, start + 5 * MINUTE, django_capture_on_commit_callbacks) == 1  # the probe
    state.refresh_from_db()
    assert state.consecutive_failures == 0 and state.breaker_open_until is None and not state.is_paused
    assert sponsor.tasks.filter(source="salesforce").count() == 1
    # Closed: the schedule runs every minute again, and a new streak needs 5 failures again.
    salesforce.down = True
    ran = [tick(clock, start + m * MINUTE, django_capture_on_commit_callbacks) for m in range(6, 13)]
    assert ran == [1, 1, 1, 1, 1, 1, 0]  # 5 failures (6-10), the probe a minute later, then 2 minutes
    # A second opening is a second notice (one per opening, not one per failure).
    assert len(breaker_notices()) == 2


def test_a_manual_run_while_paused_still_calls_the_platform(
    salesforce: Salesforce, clock: SimClock, staff_user: Any, api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sponsor = SponsorFactory(asana_project_gid="", google_calendar_id="")
    start = clock.current
    for minute in range(5):
        tick(clock, start + minute * MINUTE, django_capture_on_commit_callbacks)
    assert tick(clock, start + 4 * MINUTE + dt.timedelta(seconds=30), django_capture_on_commit_callbacks) == 0
    before = salesforce.calls

    salesforce.down = False
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/sponsors/{sponsor.pk}/sync", {"sources": ["salesforce"]})
    assert response.status_code == 202, response.content
    assert salesforce.calls == before + 1
    run = SyncRun.objects.get(pk=response.json()["run_ids"][0])
    assert run.trigger == "api" and run.status == "succeeded"
    state = ConnectorState.objects.get(connector="salesforce", scope=sponsor.sync_scope)
    assert state.consecutive_failures == 0 and not state.is_paused


def test_run_now_on_the_sync_centre_is_a_manual_run_that_tries_while_paused(
    salesforce: Salesforce, clock: SimClock, staff_web: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from integrations.schedules import schedules_install

    schedules_install()
    sponsor = SponsorFactory(asana_project_gid="", google_calendar_id="")
    start = clock.current
    for minute in range(5):
        tick(clock, start + minute * MINUTE, django_capture_on_commit_callbacks)
    assert tick(clock, start + 4 * MINUTE + dt.timedelta(seconds=30), django_capture_on_commit_callbacks) == 0
    before = salesforce.calls

    salesforce.down = False
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_web.post(reverse("sync_scheduler_run_now"), {"job": "sponsors: pull tasks"})
    assert response.status_code == 302
    assert salesforce.calls == before + 1
    run = SyncRun.objects.filter(sponsor=sponsor).latest("pk")
    assert (run.trigger, run.status) == ("manual", "succeeded")
    assert not ConnectorState.objects.get(connector="salesforce", scope=sponsor.sync_scope).is_paused


def test_the_sync_centre_and_the_connectors_api_show_the_pause(
    salesforce: Salesforce, clock: SimClock, staff_web: Any, api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sponsor = SponsorFactory(asana_project_gid="", google_calendar_id="")
    start = clock.current
    for minute in range(5):
        tick(clock, start + minute * MINUTE, django_capture_on_commit_callbacks)
    next_try = start + 5 * MINUTE

    page = staff_web.get(reverse("sync_center")).content.decode()
    card = page.split('id="connector-salesforce"', 1)[1].split('id="connector-', 1)[0]
    assert f'paused after 5 failures, next try at <time datetime="{next_try.isoformat()}">' in card
    assert f"{timezone.localtime(next_try):%H:%M}</time>" in card
    assert "paused after" not in page.split('id="connector-asana"', 1)[1].split('id="connector-', 1)[0]

    body = {c["key"]: c for c in api.get("/api/v1/sync/connectors").json()}
    assert body["salesforce"]["consecutive_failures"] == 5
    assert dt.datetime.fromisoformat(body["salesforce"]["paused_until"]) == next_try
    assert body["salesforce"]["paused_scopes"] == [
        {"scope": sponsor.sync_scope, "consecutive_failures": 5, "paused_until": body["salesforce"]["paused_until"]}
    ]
    assert body["asana"]["paused_until"] is None and body["asana"]["consecutive_failures"] == 0
