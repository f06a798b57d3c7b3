"""sponsor_sync against local fakes of the platforms: upserts, local edits, conflicts, removals,
isolation between sponsors, faults, and runs that never overlap."""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import AuditEvent
from integrations.connectors import get_connector
from integrations.http import RetryPolicy
from integrations.models import ConnectorState, SyncRecordError, SyncRun
from integrations.services import ABANDONED, _lock_key
from integrations.tests.fakes import (
    CALENDAR_PATH,
    OTHER_ACCOUNT,
    SF_QUERY_PATH,
    gcal_cancelled,
    gcal_event,
    gcal_page,
    google_error,
    serve_salesforce,
    sf_id,
    sf_task,
)
from sponsors.services import sponsor_sync
from sponsors.tests.factories import SponsorFactory
from tasks.models import POSITION_GAP, Task
from tasks.services import task_update
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

FAST = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=4.0)


def pull(sponsor, source="salesforce", sleeps=None, **kwargs):
    connector = get_connector(source, sleep=sleeps or (lambda s: None), policy=FAST)
    return sponsor_sync(sponsor=sponsor, source=source, trigger="manual", connector=connector, **kwargs)


def writes_to(queries, table):
    return [
        q["sql"]
        for q in queries
        if table in q["sql"] and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


def three_tasks(**changes):
    records = {
        1: sf_task(sf_id(1), "Send deck", status="Not Started", priority="High", date="2030-05-01"),
        2: sf_task(sf_id(2), "Confirm logo", status="In Progress", priority="Normal", date=None),
        3: sf_task(sf_id(3), "Invoice", status="Completed", priority="Low", date="2030-04-01"),
    }
    for n, fields in changes.items():
        records[int(n.removeprefix("r"))].update(fields)
    return records


# --- upserts ----------------------------------------------------------------------------------
def test_full_pull_creates_the_sponsors_tasks_at_the_end_of_their_columns(live_salesforce):
    sponsor = SponsorFactory()
    manual = TaskFactory(title="Manual", status="todo", position=10 * POSITION_GAP)
    recs = three_tasks()
    serve_salesforce(live_salesforce, [[recs[1], recs[2]], [recs[3]]])

    run = pull(sponsor)

    assert (run.status, run.trigger, run.pages) == ("succeeded", "manual", 2)
    assert (run.fetched, run.created, run.updated, run.unchanged, run.removed, run.failed) == (3, 3, 0, 0, 0, 0)
    tasks = {t.external_id: t for t in Task.objects.filter(source="salesforce")}
    first = tasks[sf_id(1)]
    assert (first.title, first.status, first.priority, first.sponsor_id) == ("Send deck", "todo", "high", sponsor.pk)
    assert first.due_at == dt.datetime(2030, 5, 1, tzinfo=dt.UTC)
    assert first.external_url.endswith(f"/lightning/r/Task/{sf_id(1)}/view")
    assert first.position > manual.position, "new tasks go to the end of their column"
    assert tasks[sf_id(2)].status == "in_progress"
    assert tasks[sf_id(3)].status == "done" and tasks[sf_id(3)].completed_at is not None
    assert first.sync_baseline["status"] == "todo" and first.synced_at is not None
    state = ConnectorState.objects.get(connector="salesforce", scope=sponsor.sync_scope)
    assert state.last_success_at == run.finished_at and not state.needs_reauth and state.last_run_id == run.pk
    assert run.duration_seconds is not None and run.duration_seconds >= 0
    assert AuditEvent.objects.filter(action="sponsor.sync", object_id=str(sponsor.pk)).count() == 1


def test_a_re_pull_with_nothing_changed_writes_no_rows(live_salesforce):
    sponsor = SponsorFactory()
    recs = three_tasks()
    serve_salesforce(live_salesforce, [[recs[1], recs[2]], [recs[3]]])
    pull(sponsor)
    before = {t.pk: (t.updated_at, t.synced_at, t.position) for t in Task.objects.all()}
    audits = AuditEvent.objects.count()

    with CaptureQueriesContext(connection) as queries:
        run = pull(sponsor)

    assert (run.status, run.created, run.updated, run.unchanged, run.removed) == ("succeeded", 0, 0, 3, 0)
    assert writes_to(queries.captured_queries, "tasks_task") == []
    assert {t.pk: (t.updated_at, t.synced_at, t.position) for t in Task.objects.all()} == before
    assert AuditEvent.objects.count() == audits


def test_a_status_set_by_a_user_survives_a_pull_when_upstream_is_unchanged(live_salesforce, user):
    sponsor = SponsorFactory()
    recs = three_tasks()
    serve_salesforce(live_salesforce, [[recs[1], recs[2], recs[3]]])
    pull(sponsor)
    task = Task.objects.get(external_id=sf_id(1))
    task_update(task=task, actor=Actor(origin="web", user=user), status="done", priority="low", notes="Called them")

    run = pull(sponsor)

    task.refresh_from_db()
    assert (task.status, task.priority, task.notes) == ("done", "low", "Called them")
    assert (run.updated, run.conflicts, run.unchanged) == (0, 0, 3)


def test_an_upstream_change_is_applied_when_there_is_no_local_edit(live_salesforce):
    sponsor = SponsorFactory()
    serve_salesforce(live_salesforce, [list(three_tasks().values())])
    pull(sponsor)
    done_end = Task.objects.filter(status="done").order_by("-position").first().position

    live_salesforce.clear()
    changed = three_tasks(
        r1={"Status": "Completed", "IsClosed": True, "Subject": "Deck sent", "ActivityDate": "2030-05-03"}
    )
    serve_salesforce(live_salesforce, [list(changed.values())])
    run = pull(sponsor)

    task = Task.objects.get(external_id=sf_id(1))
    assert (task.title, task.status, task.due_at) == ("Deck sent", "done", dt.datetime(2030, 5, 3, tzinfo=dt.UTC))
    assert task.completed_at is not None and task.position > done_end
    assert (run.updated, run.unchanged, run.conflicts) == (1, 2, 0)
    event = AuditEvent.objects.get(action="task.sync_update", object_id=str(task.pk))
    assert event.changes["status"] == ["todo", "done"] and event.changes["title"] == ["Send deck", "Deck sent"]
    assert event.origin == "sync" and event.actor_label == "sponsor_sync"


def test_when_both_sides_changed_the_rule_is_applied_and_the_conflict_recorded(live_salesforce, user):
    sponsor = SponsorFactory()
    serve_salesforce(live_salesforce, [list(three_tasks().values())])
    pull(sponsor)
    task = Task.objects.get(external_id=sf_id(1))
    task_update(task=task, actor=Actor(origin="web", user=user), status="in_progress", title="My title")

    live_salesforce.clear()
    changed = three_tasks(r1={"Status": "Completed", "IsClosed": True, "Subject": "Their title"})
    serve_salesforce(live_salesforce, [list(changed.values())])
    run = pull(sponsor)

    task.refresh_from_db()
    assert task.status == "in_progress", "local wins for status"
    assert task.title == "Their title", "upstream wins for the title"
    assert run.conflicts == 2 and run.status == "succeeded"
    conflicts = {e.detail["field"]: e for e in SyncRecordError.objects.filter(run=run, kind="conflict")}
    assert conflicts["status"].detail == {
        "task_id": str(task.pk),
        "field": "status",
        "baseline": "todo",
        "local": "in_progress",
        "upstream": "done",
        "kept": "local",
    }
    assert conflicts["title"].detail["kept"] == "upstream" and conflicts["title"].external_id == sf_id(1)

    # The baseline moved on: the next unchanged pull is quiet and keeps the local status.
    again = pull(sponsor)
    task.refresh_from_db()
    assert (again.conflicts, again.updated, task.status) == (0, 0, "in_progress")


def test_a_record_gone_upstream_is_marked_removed_not_deleted_and_comes_back(live_salesforce):
    sponsor = SponsorFactory()
    recs = three_tasks()
    serve_salesforce(live_salesforce, [list(recs.values())])
    pull(sponsor)

    live_salesforce.clear()
    serve_salesforce(live_salesforce, [[recs[1], recs[3]]])
    run = pull(sponsor)

    gone = Task.objects.get(external_id=sf_id(2))
    assert gone.removed_at is not None and run.removed == 1
    assert Task.objects.filter(source="salesforce", removed_at__isnull=True).count() == 2
    assert AuditEvent.objects.filter(action="task.sync_remove", object_id=str(gone.pk)).exists()
    assert pull(sponsor).removed == 0, "already marked"

    live_salesforce.clear()
    serve_salesforce(live_salesforce, [list(recs.values())])
    run = pull(sponsor)
    gone.refresh_from_db()
    assert gone.removed_at is None and run.updated == 1


# --- isolation --------------------------------------------------------------------------------
def test_syncing_sponsor_b_never_changes_sponsor_a(live_salesforce):
    a = SponsorFactory(name="A")
    b = SponsorFactory(name="B", salesforce_account_id=OTHER_ACCOUNT)
    recs = three_tasks()
    serve_salesforce(live_salesforce, [[recs[1], recs[2]]])
    pull(a)
    a_before = list(Task.objects.filter(sponsor=a).order_by("external_id").values())

    live_salesforce.clear()
    # B's account lists record 1 too (e.g. a task related to both) plus its own record 3.
    serve_salesforce(live_salesforce, [[sf_task(sf_id(1), "Renamed by B's pull", status="Completed"), recs[3]]])
    run = pull(b)

    assert list(Task.objects.filter(sponsor=a).order_by("external_id").values()) == a_before
    assert list(Task.objects.filter(sponsor=b).values_list("external_id", flat=True)) == [sf_id(3)]
    assert (run.status, run.created, run.failed, run.removed) == ("partial", 1, 1, 0)
    error = SyncRecordError.objects.get(run=run)
    assert error.external_id == sf_id(1) and f"sponsor #{a.pk}" in error.message


# --- faults -----------------------------------------------------------------------------------
def test_malformed_records_fail_alone_and_the_run_is_partial(live_salesforce):
    sponsor = SponsorFactory()
    serve_salesforce(
        live_salesforce,
        [[sf_task(sf_id(1)), {"attributes": {"type": "Task"}, "Subject": "no Id"}, sf_task(sf_id(2), date="tomorrow")]],
    )
    run = pull(sponsor)

    assert (run.status, run.fetched, run.created, run.failed) == ("partial", 3, 1, 2)
    errors = list(SyncRecordError.objects.filter(run=run, kind="error"))
    assert [e.external_id for e in errors] == ["", sf_id(2)]
    assert errors[0].detail["Subject"] == "no Id"
    assert "Unreadable record" in errors[1].message


def test_hostile_text_fails_alone_and_is_stored_safely(live_salesforce):
    sponsor = SponsorFactory()
    serve_salesforce(
        live_salesforce,
        [
            [
                sf_task(sf_id(1), "Nul\x00 in \ud800 title\tand tab", description="a\\b\nline"),
                {**sf_task("00T\x00bad"), "Subject": "id with NUL \x00"},
                sf_task(sf_id(3), date="\x00"),
            ]
        ],
    )
    run = pull(sponsor)

    assert (run.status, run.created, run.failed) == ("partial", 1, 2)
    task = Task.objects.get(external_id=sf_id(1))
    assert task.title == "Nul in \ufffd title and tab" and task.description == "a\\b\nline"
    assert SyncRecordError.objects.filter(run=run).count() == 2
    assert pull(sponsor).unchanged == 1, "stored exactly as planned: the re-pull sees no change"


def test_401_fails_the_run_and_marks_the_connection_for_new_credentials(live_salesforce, sleeps):
    sponsor = SponsorFactory()
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(
        [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], status=401
    )
    run = pull(sponsor, sleeps=sleeps)

    assert run.status == "failed" and "INVALID_SESSION_ID" in run.error and "new credentials" in run.error
    assert len(live_salesforce.log) == 1 and sleeps.calls == []
    state = ConnectorState.objects.get(connector="salesforce", scope=sponsor.sync_scope)
    assert state.needs_reauth and state.last_error_at is not None and state.last_success_at is None

    live_salesforce.clear()
    serve_salesforce(live_salesforce, [[sf_task(sf_id(1))]])
    assert pull(sponsor).status == "succeeded"
    state.refresh_from_db()
    assert not state.needs_reauth and state.last_success_at is not None


def test_a_failed_page_keeps_what_committed_and_removes_nothing(live_salesforce, sleeps):
    sponsor = SponsorFactory()
    recs = three_tasks()
    serve_salesforce(live_salesforce, [[recs[1]], [recs[2], recs[3]]])
    first = pull(sponsor)

    live_salesforce.clear()
    changed = three_tasks(r1={"Subject": "Changed on page 1"})
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(
        {"totalSize": 3, "done": False, "nextRecordsUrl": f"{SF_QUERY_PATH}/01gFAKE-2000", "records": [changed[1]]}
    )
    live_salesforce.expect_request(f"{SF_QUERY_PATH}/01gFAKE-2000").respond_with_json(
        [{"message": "Internal error", "errorCode": "UNKNOWN_EXCEPTION"}], status=500
    )
    run = pull(sponsor, sleeps=sleeps)

    assert run.status == "failed" and "500" in run.error and "gave up after 3 attempts" in run.error
    assert len(sleeps.calls) == 2
    assert Task.objects.get(external_id=sf_id(1)).title == "Changed on page 1", "page 1 committed"
    assert Task.objects.filter(sponsor=sponsor, removed_at__isnull=False).count() == 0
    state = ConnectorState.objects.get(connector="salesforce", scope=sponsor.sync_scope)
    assert state.last_success_at == first.finished_at and state.is_failing and not state.needs_reauth


# --- Google Calendar: incremental, 410 ---------------------------------------------------------
def test_calendar_incremental_pull_and_full_resync_on_410(live_calendar):
    sponsor = SponsorFactory()
    server = live_calendar
    full = {"singleEvents": "true", "maxResults": "250"}
    server.expect_ordered_request(CALENDAR_PATH, query_string=full).respond_with_json(
        gcal_page([gcal_event("ev1", "Kick-off"), gcal_event("ev2", "Dinner")], page_token="p2")
    )
    server.expect_ordered_request(CALENDAR_PATH, query_string={**full, "pageToken": "p2"}).respond_with_json(
        gcal_page([gcal_event("ev3", "Review", start={"date": "2030-08-01"})], sync_token="tok1")
    )
    run = pull(sponsor, "google_calendar")
    state = ConnectorState.objects.get(connector="google_calendar", scope=sponsor.sync_scope)
    assert (run.created, run.details["mode"], state.cursor) == (3, "full", "tok1")

    # Incremental: only the changes; a cancelled event is a removal, the others stay.
    server.expect_ordered_request(CALENDAR_PATH, query_string={**full, "syncToken": "tok1"}).respond_with_json(
        gcal_page([gcal_event("ev1", "Kick-off (moved)"), gcal_cancelled("ev2")], sync_token="tok2")
    )
    run = pull(sponsor, "google_calendar")
    assert (run.details["mode"], run.fetched, run.updated, run.removed) == ("incremental", 2, 1, 1)
    assert Task.objects.get(external_id="ev1").title == "Kick-off (moved)"
    assert Task.objects.get(external_id="ev2").removed_at is not None
    assert Task.objects.get(external_id="ev3").removed_at is None
    state.refresh_from_db()
    assert state.cursor == "tok2"

    # A failed incremental page leaves the cursor where it was.
    server.expect_ordered_request(CALENDAR_PATH, query_string={**full, "syncToken": "tok2"}).respond_with_json(
        google_error(403, "forbidden", "The caller does not have permission"), status=403
    )
    assert pull(sponsor, "google_calendar").status == "failed"
    state.refresh_from_db()
    assert state.cursor == "tok2"

    # 410: the token expired, a full pull runs in the same run and sets a new token.
    server.expect_ordered_request(CALENDAR_PATH, query_string={**full, "syncToken": "tok2"}).respond_with_json(
        google_error(410, "fullSyncRequired", "Sync token is no longer valid."), status=410
    )
    server.expect_ordered_request(CALENDAR_PATH, query_string=full).respond_with_json(
        gcal_page([gcal_event("ev1", "Kick-off (moved)")], sync_token="tok3")
    )
    run = pull(sponsor, "google_calendar")
    assert (run.status, run.details["mode"], run.removed) == ("succeeded", "full (sync token expired)", 1)
    assert Task.objects.get(external_id="ev3").removed_at is not None
    state.refresh_from_db()
    assert state.cursor == "tok3"
    server.check_assertions()


# --- runs never overlap -------------------------------------------------------------------------
def test_a_live_run_of_the_same_sync_is_not_started_twice(live_salesforce, settings):
    sponsor = SponsorFactory()
    other = SyncRun.objects.create(connector="salesforce", scope=sponsor.sync_scope, heartbeat_at=timezone.now())
    holder = None
    if connection.vendor == "postgresql":
        # The other worker holds the scope's advisory lock on its own connection.
        import psycopg

        params = connection.get_connection_params()
        holder = psycopg.connect(
            dbname=params["dbname"],
            user=params.get("user"),
            host=params.get("host"),
            port=params.get("port"),
            autocommit=True,
        )
        holder.execute("SELECT pg_advisory_lock(%s, %s)", list(_lock_key("salesforce", sponsor.sync_scope)))
    try:
        run = pull(sponsor)
    finally:
        if holder is not None:
            holder.close()

    assert run.pk == other.pk and run.skip_reason == "already running"
    assert live_salesforce.log == [] and SyncRun.objects.count() == 1


def test_a_run_left_by_a_killed_worker_is_taken_over_and_the_pull_leaves_exactly_upstream(live_salesforce):
    sponsor = SponsorFactory()
    ids = [sf_id(n) for n in range(1, 2501)]
    # The first pull got through page 1 and part of the way, then its worker was killed.
    serve_salesforce(live_salesforce, [[sf_task(i, f"Task {i}") for i in ids[:1000]]])
    crashed = pull(sponsor)
    SyncRun.objects.filter(pk=crashed.pk).update(
        status="running", finished_at=None, heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    # Meanwhile upstream lost one record and gained others.
    upstream = ids[1:]
    live_salesforce.clear()
    serve_salesforce(
        live_salesforce, [[sf_task(i, f"Task {i}") for i in upstream[p : p + 1000]] for p in (0, 1000, 2000)]
    )
    run = pull(sponsor)

    assert run.pk != crashed.pk and run.status == "succeeded"
    crashed.refresh_from_db()
    assert crashed.status == "failed" and crashed.error == ABANDONED
    live = Task.objects.filter(sponsor=sponsor, source="salesforce", removed_at__isnull=True)
    assert sorted(live.values_list("external_id", flat=True)) == sorted(upstream)
    assert Task.objects.filter(source="salesforce").count() == 2500, "no duplicates; the vanished one is kept, marked"
    assert (run.created, run.removed, run.unchanged) == (1500, 1, 999)


def test_a_queued_run_is_performed_by_the_worker_that_picks_it_up(live_salesforce):
    sponsor = SponsorFactory()
    queued = SyncRun.objects.create(connector="salesforce", scope=sponsor.sync_scope, trigger="api", sponsor=sponsor)
    serve_salesforce(live_salesforce, [[sf_task(sf_id(1))]])

    run = pull(sponsor, run_id=queued.pk)

    assert run.pk == queued.pk and run.status == "succeeded" and run.trigger == "api" and run.created == 1
    again = pull(sponsor, run_id=queued.pk)
    assert again.pk == queued.pk and again.skip_reason == "this run has already been done"


def test_a_duplicate_key_in_the_bulk_insert_is_an_integrity_error_and_rolls_back_alone(db):
    from django.db import IntegrityError, transaction

    from sponsors.pull_insert import insert_task_rows

    sponsor = SponsorFactory()
    row = {"id": None, "title": "x", "status": "todo", "source": "asana", "external_id": "1", "sponsor_id": sponsor.pk}
    insert_task_rows([{**row, "id": uuid.uuid4(), "position": 1}])
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_task_rows([{**row, "id": uuid.uuid4(), "position": 2}])
    assert list(Task.objects.values_list("external_id", "position", "priority", "notes")) == [("1", 1, "medium", "")]


def test_a_failing_pull_notifies_the_staff_once_per_failing_streak(live_salesforce, sleeps, staff_user, user):
    from tasks.models import Notification

    sponsor = SponsorFactory(name="Acme")
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(expired, status=401)
    first = pull(sponsor, sleeps=sleeps)
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(expired, status=401)
    assert pull(sponsor, sleeps=sleeps).status == "failed"

    sent = Notification.objects.filter(kind="sync_failed")
    assert [n.recipient for n in sent] == [staff_user], "staff only, and not again while still failing"
    note = sent.get()
    assert "Salesforce pull for Acme needs new credentials" in note.message
    assert note.url.endswith(f"/sync/runs/{first.pk}/")

    live_salesforce.clear()
    serve_salesforce(live_salesforce, [[sf_task(sf_id(1))]])
    assert pull(sponsor).status == "succeeded"
    live_salesforce.clear()
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(expired, status=401)
    pull(sponsor, sleeps=sleeps)
    assert Notification.objects.filter(kind="sync_failed").count() == 2, "a new failing streak is told again"


def test_every_staff_member_is_told_of_a_failing_pull(live_salesforce, sleeps, staff_user, django_user_model):
    from tasks.models import Notification

    second = django_user_model.objects.create_user(username="pat", email="pat@example.com", is_staff=True)
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(
        [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], status=401
    )
    pull(SponsorFactory(name="Acme"), sleeps=sleeps)
    told = Notification.objects.filter(kind="sync_failed").values_list("recipient__username", flat=True)
    assert sorted(told) == sorted([staff_user.username, second.username])
