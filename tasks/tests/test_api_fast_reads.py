"""GET /tasks and GET /tasks/{id} render rows themselves (tasks/api.py, tasks/selectors.py): the
bytes must be exactly what ninja rendered through TaskOut, and `count` must never be stale."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import uuid
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from ninja.responses import NinjaJSONEncoder

from leads.models import Lead
from tasks import selectors
from tasks.api import TaskListOut, TaskListQuery, TaskOut, task_out
from tasks.models import Task
from tasks.tests.factories import SponsorFactory, TaskFactory, UserFactory

URL = "/api/v1/tasks"


def ninja_bytes(schema: Any, data: Any) -> bytes:
    """What django-ninja renders for `data` through `schema` (the path these endpoints skip)."""
    dumped = schema.model_validate(data).model_dump()
    return json.dumps(dumped, cls=NinjaJSONEncoder).encode()


def varied_tasks() -> list[Task]:
    sponsor = SponsorFactory()
    lead = Lead.objects.create(sheet_id="lead-1", name="Zoë Ünicode", email="z@example.com")
    carol = UserFactory(username="carol")
    now = timezone.now()
    tasks = [
        TaskFactory(title="plain"),
        TaskFactory(
            title='Ünïcode ✓ \u2028 "quotes" \\ back',
            description="line\nbreak\ttab",
            notes="ノート",
            status=Task.Status.DONE,
            completed_at=now,
            priority=Task.Priority.HIGH,
            due_at=dt.datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=dt.UTC),
            sponsor=sponsor,
            lead=lead,
            assignee=carol,
            source=Task.Source.ASANA,
            external_id="gid-1",
            external_url="https://app.example.com/t/1",
            external_ref="7",
            external_data={"id": 7, "title": "délai", "nested": [1, 2.5, None, True, {"k": "v"}]},
            enrichment_status=Task.EnrichmentStatus.OK,
            enrichment_fetched_at=dt.datetime(2026, 3, 1, 2, 3, 4, 567891, tzinfo=dt.UTC),
            enrichment_checked_at=dt.datetime(2026, 3, 1, 2, 3, 4, 567891, tzinfo=dt.UTC),
        ),
        TaskFactory(
            title="whole seconds",
            due_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            removed_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            priority=Task.Priority.LOW,
            status=Task.Status.IN_PROGRESS,
            external_ref="8",
            external_data={"id": 8, "kept": "after a failed refresh"},
            enrichment_status=Task.EnrichmentStatus.FAILED,
            enrichment_error="The external API answered with malformed JSON.",
            enrichment_fetched_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            enrichment_checked_at=dt.datetime(2026, 2, 3, 4, 5, 6, 7000, tzinfo=dt.UTC),
        ),
    ]
    return [Task.objects.select_related("assignee").get(pk=t.pk) for t in tasks]


@pytest.mark.django_db
def test_single_read_is_byte_identical_to_ninja(api: Any) -> None:
    for task in varied_tasks():
        response = api.get(f"{URL}/{task.pk}")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json; charset=utf-8"
        assert response.content == ninja_bytes(TaskOut, task_out(task))


@pytest.mark.django_db
def test_single_read_errors_unchanged(api: Any) -> None:
    missing = uuid.uuid4()
    response = api.get(f"{URL}/{missing}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"No task with id {missing}.", "error_code": "NOT_FOUND"}
    response = api.get(f"{URL}/not-a-uuid")
    assert response.status_code == 404
    assert response.json() == {"detail": "No task with that id.", "error_code": "NOT_FOUND"}


LIST_CASES = [
    {},
    {"status": "todo"},
    {"status": "done", "priority": "high"},
    {"priority": "low", "order": "priority"},
    {"source": "asana"},
    {"order": "-updated_at", "limit": 2},
    {"order": "due_at", "limit": 2, "offset": 1},
    {"limit": 1, "offset": 2},
    {"offset": 50},
    {"q": "ünïcode"},
    {"overdue": "true"},
    {"due_after": "2025-12-31T00:00:00Z", "status": "in_progress"},
]


@pytest.mark.django_db
@pytest.mark.parametrize("params", LIST_CASES)
def test_list_is_byte_identical_to_ninja(api: Any, params: dict[str, Any]) -> None:
    tasks = varied_tasks()
    TaskFactory.create_batch(3, status=Task.Status.TODO, priority=Task.Priority.HIGH)
    params = {**params, "sponsor_id": tasks[1].sponsor_id} if params.get("source") else params
    response = api.get(URL, params)
    assert response.status_code == 200, response.content
    body = response.json()
    query = TaskListQuery.model_validate(params)
    limit, offset = query.limit, query.offset
    filters = selectors.TaskFilters(**query.model_dump(exclude={"limit", "offset"}))
    qs = selectors.task_list(filters=filters)
    expected = {"items": [task_out(t) for t in qs[offset : offset + limit]], "count": qs.count()}
    assert response.content == ninja_bytes(TaskListOut, expected)
    assert body["count"] == qs.count()


@pytest.mark.django_db
def test_sponsor_and_lead_filters_use_the_prepared_query(api: Any) -> None:
    tasks = varied_tasks()
    for params, expected in (
        ({"sponsor_id": tasks[1].sponsor_id}, [tasks[1]]),
        ({"lead_id": tasks[1].lead_id, "status": "done"}, [tasks[1]]),
        ({"sponsor_id": 999_999}, []),
        ({"lead_id": 999_999}, []),
    ):
        body = api.get(URL, params).json()
        assert [item["id"] for item in body["items"]] == [str(t.pk) for t in expected]
        assert body["count"] == len(expected)


@pytest.mark.django_db
def test_list_queries_stay_constant(api: Any) -> None:
    TaskFactory.create_batch(60, status=Task.Status.TODO, priority=Task.Priority.HIGH, assignee=UserFactory())
    api.get(URL, {"status": "todo", "limit": 50})
    with CaptureQueriesContext(connection) as small:
        assert api.get(URL, {"status": "todo", "limit": 2}).status_code == 200
    with CaptureQueriesContext(connection) as large:
        assert api.get(URL, {"status": "todo", "limit": 50}).status_code == 200
    assert len(large) == len(small) <= 5, [q["sql"] for q in large.captured_queries]


# --- count: cached on PostgreSQL, never stale -------------------------------------------------


def count_of(api: Any, **params: Any) -> int:
    response = api.get(URL, {"limit": 1, **params})
    assert response.status_code == 200, response.content
    return response.json()["count"]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_cached_count_follows_every_kind_of_write(api: Any) -> None:
    TaskFactory.create_batch(3, status=Task.Status.TODO, priority=Task.Priority.HIGH)
    assert count_of(api, status="todo", priority="high") == 3
    with CaptureQueriesContext(connection) as ctx:
        assert count_of(api, status="todo", priority="high") == 3
    assert not any("COUNT(" in q["sql"] for q in ctx.captured_queries), "second count should come from the cache"

    created = api.post(URL, {"title": "new", "priority": "high"}).json()
    assert count_of(api, status="todo", priority="high") == 4
    api.patch(f"{URL}/{created['id']}", {"status": "done"})
    assert count_of(api, status="todo", priority="high") == 3
    api.patch(f"{URL}/{created['id']}", {"status": "todo"})
    assert count_of(api, status="todo", priority="high") == 4
    api.delete(f"{URL}/{created['id']}")
    assert count_of(api, status="todo", priority="high") == 3
    # Writes that bypass the ORM's per-object paths (bulk update, raw SQL) count too.
    Task.objects.filter(status="todo").update(priority="low")
    assert count_of(api, status="todo", priority="high") == 0
    assert count_of(api, status="todo", priority="low") == 3
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tasks_task WHERE id = %s", [Task.objects.filter(status="todo").first().pk])
    assert count_of(api, status="todo", priority="low") == 2


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_cached_count_waits_for_uncommitted_writers(api: Any) -> None:
    """A count taken while another transaction is writing must not be reused after it commits."""
    TaskFactory.create_batch(2, status=Task.Status.TODO, priority=Task.Priority.HIGH)
    assert count_of(api, status="todo", priority="high") == 2

    written = threading.Event()
    release = threading.Event()
    done = threading.Event()

    def writer() -> None:
        try:
            with transaction.atomic():
                TaskFactory(status=Task.Status.TODO, priority=Task.Priority.HIGH)
                written.set()
                release.wait(10)
        finally:
            connections.close_all()
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert written.wait(10)
    assert count_of(api, status="todo", priority="high") == 2  # not committed yet
    # A committed write elsewhere forces a recount while the writer is still open.
    TaskFactory(status=Task.Status.DONE, priority=Task.Priority.LOW)
    assert count_of(api, status="todo", priority="high") == 2
    assert count_of(api, status="todo", priority="high") == 2
    release.set()
    assert done.wait(10)
    thread.join()
    assert count_of(api, status="todo", priority="high") == 3


def commit_elsewhere(**fields: Any) -> None:
    """Create a task from another connection (another thread), committed at once."""

    def run() -> None:
        try:
            TaskFactory(**fields)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)


@pytest.mark.django_db(transaction=True)
def test_count_inside_a_writing_transaction(api: Any) -> None:
    """A caller that writes and reads in one transaction sees its own writes, even when other
    transactions have committed since this one started writing."""
    with transaction.atomic():
        for n in range(1, 4):
            TaskFactory(status=Task.Status.TODO, priority=Task.Priority.HIGH)
            if connection.vendor == "postgresql":
                commit_elsewhere(status=Task.Status.DONE, priority=Task.Priority.LOW)
            assert count_of(api, status="todo", priority="high") == 2 * n - 1
            TaskFactory(status=Task.Status.TODO, priority=Task.Priority.HIGH)
            assert count_of(api, status="todo", priority="high") == 2 * n
    assert count_of(api, status="todo", priority="high") == 6


@pytest.mark.django_db
def test_prepared_rows_match_the_orm() -> None:
    varied_tasks()
    TaskFactory.create_batch(5, status=Task.Status.TODO, priority=Task.Priority.HIGH)
    for status, priority, order in itertools.product(
        (None, "todo", "done"), (None, "high", "low"), ("position", "priority", "due_at")
    ):
        filters = selectors.TaskFilters(status=status, priority=priority, order=order)
        rows, count = selectors.task_api_page(filters=filters, limit=3, offset=1)
        orm = selectors.task_api_values(selectors.task_list(filters=filters))
        assert rows == list(orm[1:4])
        assert count == selectors.task_list(filters=filters).count()
