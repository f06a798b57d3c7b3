"""Each connector's real client code against a local fake of its platform (127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from werkzeug import Response

from integrations.connectors import CONNECTORS, get_connector, get_connector_class
from integrations.connectors.asana import OPT_FIELDS
from integrations.connectors.base import AuthError, ConnectorError, RateLimitError, SyncTokenExpired
from integrations.http import RetryPolicy, backoff_delay, parse_retry_after
from integrations.tests.fakes import (
    ACCOUNT,
    CALENDAR,
    CALENDAR_PATH,
    PROJECT,
    SF_QUERY_PATH,
    asana_page,
    asana_task,
    gcal_cancelled,
    gcal_event,
    gcal_page,
    google_error,
    sf_id,
    sf_page,
    sf_task,
)

# Connectors find their credentials through the platform's default connection (a query).
pytestmark = pytest.mark.django_db

FAST = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=8.0, max_retry_after=120.0)


def pages_of(connector, **kwargs):
    return list(connector.pull(**kwargs))


# --- retry policy ---------------------------------------------------------------------------------
def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    assert 25 <= parse_retry_after(future.strftime("%a, %d %b %Y %H:%M:%S GMT")) <= 31


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    low = [backoff_delay(n, retry_after=None, policy=policy, rand=lambda: 0.0) for n in range(1, 7)]
    high = [backoff_delay(n, retry_after=None, policy=policy, rand=lambda: 1.0) for n in range(1, 7)]
    assert high == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert low == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff_delay(1, retry_after=30, policy=policy, rand=lambda: 0.5) == 30.5
    assert backoff_delay(1, retry_after=10_000, policy=policy) is None


def test_registry_is_explicit():
    assert set(CONNECTORS) == {"salesforce", "asana", "google_calendar"}
    assert get_connector_class("asana").label == "Asana"


# --- Salesforce -----------------------------------------------------------------------------------
def test_salesforce_pages_through_next_records_url_with_bearer_token(live_salesforce, sleeps):
    server = live_salesforce
    server.expect_ordered_request(
        SF_QUERY_PATH, method="GET", headers={"Authorization": "Bearer sf-token"}
    ).respond_with_json(
        sf_page(
            [
                sf_task(sf_id(1), "Send deck", status="In Progress", priority="High", date="2030-05-01"),
                sf_task(sf_id(2), "Invoice", status="Completed", priority="Low", date=None),
            ],
            next_locator="01gD0000002HU6KIAW-2000",
            total=3,
        ),
        headers={"Sforce-Limit-Info": "api-usage=18/15000"},
    )
    server.expect_ordered_request(f"{SF_QUERY_PATH}/01gD0000002HU6KIAW-2000", method="GET").respond_with_json(
        sf_page([sf_task(sf_id(3), None, status="Custom closed value", closed=True)], total=3)
    )
    connector = get_connector("salesforce", sleep=sleeps, policy=FAST)
    pages = pages_of(connector, target=ACCOUNT)

    assert not connector.demo
    assert len(pages) == 2 and all(p.full for p in pages)
    first, second, third = pages[0].records + pages[1].records
    assert (first.external_id, first.title, first.status, first.priority) == (
        sf_id(1),
        "Send deck",
        "in_progress",
        "high",
    )
    assert first.due_at == dt.datetime(2030, 5, 1, tzinfo=dt.UTC)
    assert first.external_url == f"{server.url_for('').rstrip('/')}/lightning/r/Task/{sf_id(1)}/view"
    assert (second.status, second.priority, second.due_at) == ("done", "low", None)
    assert (third.title, third.status) == ("(no subject)", "done")
    query = server.log[0][0].args["q"]
    assert "FROM Task" in query and f"AccountId = '{ACCOUNT}'" in query and f"WhatId = '{ACCOUNT}'" in query
    assert connector.details["api_usage"] == "api-usage=18/15000"
    assert sleeps.calls == []


def test_salesforce_request_limit_exceeded_is_retried_with_backoff(live_salesforce, sleeps):
    server = live_salesforce
    limit = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    server.expect_ordered_request(SF_QUERY_PATH).respond_with_json(limit, status=403)
    server.expect_ordered_request(SF_QUERY_PATH).respond_with_json(limit, status=403, headers={"Retry-After": "5"})
    server.expect_ordered_request(SF_QUERY_PATH).respond_with_json(sf_page([sf_task(sf_id(1))]))
    connector = get_connector("salesforce", sleep=sleeps, policy=FAST)

    pages = pages_of(connector, target=ACCOUNT)

    assert [r.external_id for r in pages[0].records] == [sf_id(1)]
    assert connector.requests_made == 3
    assert 0.5 <= sleeps.calls[0] <= 1.0  # first backoff: base with jitter
    assert 5.0 <= sleeps.calls[1] <= 6.0  # then the platform's Retry-After


def test_salesforce_gives_up_after_bounded_attempts_on_5xx(live_salesforce, sleeps):
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(
        [{"message": "Service Unavailable", "errorCode": "SERVER_UNAVAILABLE"}], status=503
    )
    connector = get_connector("salesforce", sleep=sleeps, policy=FAST)

    with pytest.raises(ConnectorError) as caught:
        pages_of(connector, target=ACCOUNT)

    assert caught.value.retryable and "503" in str(caught.value) and "4 attempts" in str(caught.value)
    assert connector.requests_made == 4 and len(sleeps.calls) == 3


def test_salesforce_401_stops_at_once(live_salesforce, sleeps):
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(
        [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], status=401
    )
    connector = get_connector("salesforce", sleep=sleeps, policy=FAST)

    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        pages_of(connector, target=ACCOUNT)

    assert connector.requests_made == 1 and sleeps.calls == []


def test_salesforce_malformed_record_fails_alone(live_salesforce, sleeps):
    bad_date = sf_task(sf_id(2), date="31/12/2030")
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(
        sf_page([sf_task(sf_id(1)), {"attributes": {"type": "Task"}, "Subject": "no id"}, bad_date, "junk"])
    )
    page = pages_of(get_connector("salesforce", sleep=sleeps, policy=FAST), target=ACCOUNT)[0]

    assert [r.external_id for r in page.records] == [sf_id(1)]
    assert [e.external_id for e in page.errors] == ["", sf_id(2), ""]


def test_salesforce_never_follows_a_next_url_to_another_host(live_salesforce, sleeps):
    body = sf_page([sf_task(sf_id(1))], next_locator="x")
    body["nextRecordsUrl"] = "https://attacker.example/steal"
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(body)

    with pytest.raises(ConnectorError, match="unexpected nextRecordsUrl"):
        pages_of(get_connector("salesforce", sleep=sleeps, policy=FAST), target=ACCOUNT)
    assert len(live_salesforce.log) == 1


def test_salesforce_refuses_an_account_id_that_could_inject_soql(live_salesforce, sleeps):
    with pytest.raises(ConnectorError, match="not a Salesforce Account Id"):
        pages_of(get_connector("salesforce", sleep=sleeps), target="001' OR Id != '")
    assert live_salesforce.log == []


def test_timeouts_are_retried(live_salesforce, sleeps):
    calls = []
    release = threading.Event()
    slow_done = threading.Event()

    def slow_then_fast(request):
        calls.append(1)
        if len(calls) == 1:
            # Answers only after the test is over: a timeout for certain, however slow the machine.
            release.wait(30)
            slow_done.set()
        return Response('{"totalSize": 0, "done": true, "records": []}', status=200, content_type="application/json")

    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_handler(slow_then_fast)
    connector = get_connector("salesforce", sleep=sleeps, policy=FAST, timeout=1.0)

    try:
        pages = pages_of(connector, target=ACCOUNT)
    finally:
        release.set()

    assert pages[0].records == [] and connector.requests_made == 2 and len(sleeps.calls) == 1
    slow_done.wait(5)  # let the abandoned request finish before the next test uses the server


# --- Asana ----------------------------------------------------------------------------------------
def test_asana_pages_by_offset_and_maps_sections_and_priority(live_asana, sleeps):
    server = live_asana
    server.expect_ordered_request(
        "/api/1.0/tasks",
        query_string={"project": PROJECT, "opt_fields": OPT_FIELDS, "limit": "100"},
        headers={"Authorization": "Bearer asana-token"},
    ).respond_with_json(
        asana_page(
            [
                asana_task("11", "Design kit", section="In progress", priority="High"),
                asana_task("12", "Booth", completed=True, section="To do"),
            ],
            offset="eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9",
        )
    )
    server.expect_ordered_request(
        "/api/1.0/tasks",
        query_string={
            "project": PROJECT,
            "opt_fields": OPT_FIELDS,
            "limit": "100",
            "offset": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9",
        },
    ).respond_with_json(asana_page([asana_task("13", "Video", due_on=None, due_at="2030-06-02T16:00:00.000Z")]))
    connector = get_connector("asana", sleep=sleeps, policy=FAST)
    pages = pages_of(connector, target=PROJECT)

    records = [r for p in pages for r in p.records]
    assert [(r.external_id, r.status, r.priority) for r in records] == [
        ("11", "in_progress", "high"),
        ("12", "done", None),
        ("13", "todo", None),
    ]
    assert records[0].due_at == dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    assert records[2].due_at == dt.datetime(2030, 6, 2, 16, tzinfo=dt.UTC)
    assert records[0].external_url == f"https://app.asana.com/0/{PROJECT}/11"


def test_asana_429_waits_for_retry_after(live_asana, sleeps):
    server = live_asana
    server.expect_ordered_request("/api/1.0/tasks").respond_with_json(
        {"errors": [{"message": "You have made too many requests recently."}]},
        status=429,
        headers={"Retry-After": "30"},
    )
    server.expect_ordered_request("/api/1.0/tasks").respond_with_json(asana_page([asana_task("11")]))
    connector = get_connector("asana", sleep=sleeps, policy=FAST)

    pages = pages_of(connector, target=PROJECT)

    assert [r.external_id for r in pages[0].records] == ["11"]
    assert 30.0 <= sleeps.calls[0] <= 31.0


def test_asana_retry_after_too_long_stops_the_run_for_the_next_one(live_asana, sleeps):
    live_asana.expect_request("/api/1.0/tasks").respond_with_json(
        {"errors": [{"message": "Too many requests"}]}, status=429, headers={"Retry-After": "3600"}
    )
    with pytest.raises(RateLimitError) as caught:
        pages_of(get_connector("asana", sleep=sleeps, policy=FAST), target=PROJECT)
    assert caught.value.retry_after == 3600 and sleeps.calls == []


def test_asana_401_is_an_auth_error(live_asana, sleeps):
    live_asana.expect_request("/api/1.0/tasks").respond_with_json(
        {"errors": [{"message": "Not Authorized"}]}, status=401
    )
    with pytest.raises(AuthError, match="Not Authorized"):
        pages_of(get_connector("asana", sleep=sleeps, policy=FAST), target=PROJECT)


def test_asana_malformed_task_fails_alone(live_asana, sleeps):
    live_asana.expect_request("/api/1.0/tasks").respond_with_json(
        asana_page(
            [
                asana_task("11"),
                {"name": "no gid"},
                {**asana_task("12"), "completed": "yes"},
                asana_task("13", due_on="soon"),
            ]
        )
    )
    page = pages_of(get_connector("asana", sleep=sleeps), target=PROJECT)[0]
    assert [r.external_id for r in page.records] == ["11"]
    assert [e.external_id for e in page.errors] == ["", "12", "13"]


# --- Google Calendar ------------------------------------------------------------------------------
def test_calendar_pages_and_returns_the_sync_token(live_calendar, sleeps):
    server = live_calendar
    server.expect_ordered_request(
        CALENDAR_PATH,
        query_string={"singleEvents": "true", "maxResults": "250"},
        headers={"Authorization": "Bearer google-token"},
    ).respond_with_json(gcal_page([gcal_event("ev1", "Kick-off")], page_token="p2"))
    server.expect_ordered_request(
        CALENDAR_PATH, query_string={"singleEvents": "true", "maxResults": "250", "pageToken": "p2"}
    ).respond_with_json(
        gcal_page(
            [gcal_event("ev2", "All day", start={"date": "2030-07-04"})], sync_token="CPDAlvWDx70CEPDAlvWDx70CGAU="
        )
    )
    pages = pages_of(get_connector("google_calendar", sleep=sleeps, policy=FAST), target=CALENDAR)

    first, second = pages[0].records + pages[1].records
    assert first.due_at == dt.datetime(2030, 7, 1, 8, tzinfo=dt.UTC)
    assert (first.status, first.priority, first.external_url) == (
        "todo",
        None,
        "https://www.google.com/calendar/event?eid=ev1",
    )
    assert second.due_at == dt.datetime(2030, 7, 4, tzinfo=dt.UTC)
    assert pages[0].next_cursor is None and pages[1].next_cursor == "CPDAlvWDx70CEPDAlvWDx70CGAU="
    assert all(p.full for p in pages)
    # The calendar id is percent-encoded in the path, as Google expects.
    assert "/calendars/sponsor%40group.calendar.google.com/events" in server.log[0][0].environ["REQUEST_URI"]


def test_calendar_incremental_pull_reports_cancelled_events(live_calendar, sleeps):
    live_calendar.expect_request(
        CALENDAR_PATH, query_string={"singleEvents": "true", "maxResults": "250", "syncToken": "tok1"}
    ).respond_with_json(gcal_page([gcal_event("ev1", "Moved"), gcal_cancelled("ev2")], sync_token="tok2"))

    (page,) = pages_of(get_connector("google_calendar", sleep=sleeps), target=CALENDAR, cursor="tok1")

    assert not page.full
    assert [r.title for r in page.records] == ["Moved"]
    assert page.removed_ids == ["ev2"] and page.next_cursor == "tok2"


def test_calendar_410_means_the_sync_token_expired(live_calendar, sleeps):
    live_calendar.expect_request(CALENDAR_PATH).respond_with_json(
        google_error(410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required."), status=410
    )
    with pytest.raises(SyncTokenExpired):
        pages_of(get_connector("google_calendar", sleep=sleeps), target=CALENDAR, cursor="old")
    assert len(live_calendar.log) == 1


def test_calendar_403_rate_limit_is_retried_but_other_403s_are_not(live_calendar, sleeps):
    server = live_calendar
    server.expect_ordered_request(CALENDAR_PATH).respond_with_json(
        google_error(403, "rateLimitExceeded", "Rate Limit Exceeded"), status=403
    )
    server.expect_ordered_request(CALENDAR_PATH).respond_with_json(
        google_error(429, "rateLimitExceeded", "Too many"), status=429
    )
    server.expect_ordered_request(CALENDAR_PATH).respond_with_json(gcal_page([gcal_event("ev1")], sync_token="t"))
    connector = get_connector("google_calendar", sleep=sleeps, policy=FAST)
    assert [r.external_id for r in pages_of(connector, target=CALENDAR)[0].records] == ["ev1"]
    assert connector.requests_made == 3 and len(sleeps.calls) == 2

    server.clear()
    server.expect_request(CALENDAR_PATH).respond_with_json(google_error(403, "forbidden", "Forbidden"), status=403)
    connector = get_connector("google_calendar", sleep=sleeps, policy=FAST)
    with pytest.raises(ConnectorError) as caught:
        pages_of(connector, target=CALENDAR)
    assert not caught.value.retryable and connector.requests_made == 1


def test_calendar_malformed_event_fails_alone(live_calendar, sleeps):
    live_calendar.expect_request(CALENDAR_PATH).respond_with_json(
        gcal_page([gcal_event("ev1"), {**gcal_event("ev2"), "start": {}}, {"summary": "no id"}], sync_token="t")
    )
    page = pages_of(get_connector("google_calendar", sleep=sleeps), target=CALENDAR)[0]
    assert [r.external_id for r in page.records] == ["ev1"]
    assert [e.external_id for e in page.errors] == ["ev2", ""]


# --- demo mode ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "target"),
    [("salesforce", ACCOUNT), ("asana", PROJECT), ("google_calendar", CALENDAR)],
)
def test_without_credentials_each_connector_runs_its_simulator(no_credentials, key, target):
    connector = get_connector(key)
    pages = pages_of(connector, target=target)
    records = [r for p in pages for r in p.records]

    assert connector.demo and not get_connector_class(key).is_configured()
    assert len(pages) >= 2, "the simulator pages like the platform"
    assert len(records) >= 4 and len({r.external_id for r in records}) == len(records)
    assert all(r.status in ("todo", "in_progress", "done") and r.title for r in records)
    assert [r.external_id for r in records] == [
        r.external_id for p in pages_of(get_connector(key), target=target) for r in p.records
    ]


def test_seen_ids_is_a_compact_exact_enough_set():
    from integrations.seen_ids import SeenIds

    seen = SeenIds()
    for n in range(0, 20_000, 2):
        seen.add(f"00T{n:015d}")
    assert len(seen) == 10_000
    assert all(f"00T{n:015d}" in seen for n in range(0, 20_000, 2))
    assert not any(f"00T{n:015d}" in seen for n in range(1, 20_000, 2))
    seen.add("late")
    assert "late" in seen and 42 not in seen


def test_storable_text_drops_nul_and_lone_surrogates():
    from integrations.connectors.base import storable

    assert storable("plain") == "plain" and storable(None) == "" and storable("a\x00b") == "ab"
    assert storable("é\x00\ud800") == "é\ufffd"
