"""A sponsor pull that meets an upstream fault (404, 500, no answer in time, malformed JSON, JSON
that is not the documented object) fails the run and changes no task: no field replaced, nothing
marked removed, the incremental cursor and the last success kept. Fakes on 127.0.0.1 in each
platform's real shape (integrations/tests/fakes.py cites the docs)."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from integrations.connectors import get_connector
from integrations.http import RetryPolicy
from integrations.models import ConnectorState
from integrations.tests.fakes import (
    CALENDAR_PATH,
    SF_QUERY_PATH,
    asana_page,
    asana_task,
    gcal_event,
    gcal_page,
    serve_salesforce,
    sf_id,
    sf_task,
)
from integrations.tests.faults import FAULTS, Hang, serve_fault
from sponsors.services import sponsor_sync
from sponsors.tests.factories import SponsorFactory
from tasks.models import Task

pytestmark = pytest.mark.django_db

FAST = RetryPolicy(max_attempts=2, base_delay=1.0, max_delay=1.0)
ASANA_PATH = "/api/1.0/tasks"
SNAPSHOT = ("external_id", "title", "description", "status", "priority", "due_at", "external_url", "removed_at")


def pull(sponsor: Any, source: str, *, timeout: float = 30.0) -> Any:
    """A pull; the fault pulls pass a short `timeout` so that a held answer times out."""
    connector = get_connector(source, sleep=lambda s: None, policy=FAST, timeout=timeout)
    return sponsor_sync(sponsor=sponsor, source=source, trigger="manual", connector=connector)


def serve_good(server: HTTPServer, source: str) -> str:
    """Two records, served as the platform does; returns the path a fault will be served on."""
    if source == "salesforce":
        serve_salesforce(server, [[sf_task(sf_id(1), "Send deck"), sf_task(sf_id(2), "Confirm logo")]])
        return SF_QUERY_PATH
    if source == "asana":
        server.expect_request(ASANA_PATH).respond_with_json(
            asana_page([asana_task("1201", "Design kit"), asana_task("1202", "Print banners")])
        )
        return ASANA_PATH
    server.expect_request(CALENDAR_PATH).respond_with_json(
        gcal_page([gcal_event("ev1", "Kick-off"), gcal_event("ev2", "Dinner")], sync_token="tok1")
    )
    return CALENDAR_PATH


def snapshot(sponsor: Any) -> list[tuple[Any, ...]]:
    return list(Task.objects.filter(sponsor=sponsor).order_by("external_id").values_list(*SNAPSHOT))


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("source", ["salesforce", "asana", "google_calendar"])
def test_a_fault_fails_the_run_and_keeps_every_task(request: Any, source: str, fault: str, hang: Hang) -> None:
    server = request.getfixturevalue(f"live_{'calendar' if source == 'google_calendar' else source}")
    sponsor = SponsorFactory()
    path = serve_good(server, source)
    first = pull(sponsor, source)
    assert (first.status, first.created) == ("succeeded", 2)
    before = snapshot(sponsor)
    state = ConnectorState.objects.get(connector=source, scope=sponsor.sync_scope)
    cursor_before = state.cursor

    server.clear()
    serve_fault(server, path, fault, hang=hang)
    run = pull(sponsor, source, timeout=0.5)

    assert run.status == "failed" and run.error, (fault, run.error)
    assert (run.created, run.updated, run.removed) == (0, 0, 0)
    assert snapshot(sponsor) == before, "a failed pull replaces nothing and removes nothing"
    state.refresh_from_db()
    assert state.cursor == cursor_before, "the incremental cursor stays where the last good pull left it"
    assert state.last_success_at == first.finished_at and state.last_error == run.error
    assert state.last_error_at is not None


def test_a_calendar_answer_without_items_or_tokens_is_not_an_empty_calendar(live_calendar: HTTPServer) -> None:
    """The events list always ends with nextSyncToken (or continues with nextPageToken), so an
    object with neither and no items is not "every event was deleted"."""
    sponsor = SponsorFactory()
    serve_good(live_calendar, "google_calendar")
    pull(sponsor, "google_calendar")
    ConnectorState.objects.filter(connector="google_calendar").update(cursor="")  # the next pull is a full one
    before = snapshot(sponsor)
    for body in ({}, {"kind": "calendar#events", "summary": "x"}):
        live_calendar.clear()
        live_calendar.expect_request(CALENDAR_PATH).respond_with_json(body)
        run = pull(sponsor, "google_calendar")
        assert run.status == "failed" and "items" in run.error
        assert snapshot(sponsor) == before
    # A calendar that really is empty still says so, with its sync token: its events are removed.
    live_calendar.clear()
    live_calendar.expect_request(CALENDAR_PATH).respond_with_json(gcal_page([], sync_token="tok2"))
    run = pull(sponsor, "google_calendar")
    assert (run.status, run.removed) == ("succeeded", 2)


@pytest.mark.parametrize("source", ["salesforce", "asana"])
def test_a_record_without_its_fields_fails_alone_and_keeps_the_task(request: Any, source: str) -> None:
    """A record whose selected fields are missing (not null: absent) is broken; read as empty it
    would replace the task's title, due date and description."""
    server = request.getfixturevalue(f"live_{source}")
    sponsor = SponsorFactory()
    path = serve_good(server, source)
    pull(sponsor, source)
    before = snapshot(sponsor)

    server.clear()
    if source == "salesforce":
        broken = {"attributes": {"type": "Task"}, "Id": sf_id(1), "Status": "Not Started"}
        serve_salesforce(server, [[broken, sf_task(sf_id(2), "Confirm logo")]])
    else:
        broken = {"gid": "1201", "resource_type": "task"}
        server.expect_request(path).respond_with_json(asana_page([broken, asana_task("1202", "Print banners")]))
    run = pull(sponsor, source)

    assert (run.status, run.failed, run.removed) == ("partial", 1, 0)
    assert snapshot(sponsor) == before, "the broken record's task keeps its fields; nothing is removed"
