"""The dashboard's task pages, as a signed-in user sees and uses them."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from tasks.models import POSITION_GAP, Task
from tasks.tests.factories import SponsorFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def column_titles(status: str) -> list[str]:
    return list(Task.objects.filter(status=status).order_by("position").values_list("title", flat=True))


def csv_rows(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


# --- Access -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("dashboard", {}),
        ("task_board", {}),
        ("task_list", {}),
        ("task_export_csv", {}),
        ("task_create", {}),
        ("task_detail", {"task_id": "6f1b8b8e-1111-4a4a-9b9b-123456789abc"}),
        ("task_edit", {"task_id": "6f1b8b8e-1111-4a4a-9b9b-123456789abc"}),
    ],
)
def test_anonymous_visitors_are_sent_to_the_login_page(client: Any, name: str, kwargs: dict[str, str]) -> None:
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_anonymous_move_is_refused_and_changes_nothing(client: Any) -> None:
    task = TaskFactory(status="todo")
    response = client.post(reverse("task_move", args=[task.pk]), {"status": "done"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "todo"


# --- Overview ---------------------------------------------------------------------------------


def test_overview_shows_counts_and_recent_tasks(web: Any, django_assert_max_num_queries: Any) -> None:
    now = timezone.now()
    TaskFactory(title="Late brochure", status="todo", due_at=now - dt.timedelta(days=2))
    TaskFactory(title="Booth plan", status="in_progress", due_at=now + dt.timedelta(days=3))
    TaskFactory(title="Signed contract", status="done", due_at=now - dt.timedelta(days=5))
    with django_assert_max_num_queries(6):
        response = web.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Overview" in page
    counts = response.context["counts"]
    assert (counts["todo"], counts["in_progress"], counts["done"]) == (1, 1, 1)
    assert counts["overdue"] == 1  # the done task is not overdue
    assert counts["due_week"] == 1
    assert "Late brochure" in page and "Booth plan" in page
    assert reverse("task_board") in page and reverse("task_list") in page


def test_overview_empty_state_says_what_to_do(web: Any) -> None:
    page = web.get("/").content.decode()
    assert "No tasks yet" in page
    assert reverse("task_create") in page


def test_layout_has_navigation_user_name_logout_and_htmx_csrf(web: Any, user: Any) -> None:
    page = web.get("/").content.decode()
    for label in ("Overview", "Board", "Tasks", "API docs", "Settings", "Log out"):
        assert label in page
    assert "Audit log" not in page and "/admin/" not in page  # staff only
    assert user.username in page
    assert f'action="{reverse("account_logout")}"' in page
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    assert "vendor/bootstrap/css/bootstrap.min.css" in page
    assert "vendor/htmx/htmx.min.js" in page


def test_staff_see_audit_and_admin_links(staff_web: Any) -> None:
    page = staff_web.get("/").content.decode()
    assert reverse("audit_log") in page
    assert "/admin/" in page


# --- Board ------------------------------------------------------------------------------------


def test_board_shows_three_columns_with_cards(web: Any) -> None:
    sponsor = SponsorFactory(name="Acme Corp")
    TaskFactory(title="Write the brief", status="todo", priority="high", sponsor=sponsor)
    TaskFactory(
        title="Overdue invoice", status="in_progress", due_at=timezone.now() - dt.timedelta(days=1), source="asana"
    )
    TaskFactory(title="Kickoff call", status="done")
    response = web.get(reverse("task_board"))
    assert response.status_code == 200
    page = response.content.decode()
    for label in ("To do", "In progress", "Done"):
        assert label in page
    assert "Write the brief" in page and "Acme Corp" in page and "High" in page
    assert 'class="due overdue"' in page
    assert "From Asana" in page
    # Every card has a keyboard move control posting to the move endpoint.
    task = Task.objects.get(title="Write the brief")
    assert f'action="{reverse("task_move", args=[task.pk])}"' in page
    assert "vendor/sortablejs/Sortable.min.js" in page


def test_board_empty_columns_say_what_to_do(web: Any) -> None:
    page = web.get(reverse("task_board")).content.decode()
    assert page.count("Drag a card here") == 3


def test_board_says_when_a_column_is_truncated(web: Any, django_assert_max_num_queries: Any) -> None:
    from tasks.views import BOARD_PER_COLUMN

    Task.objects.bulk_create(
        Task(title=f"Bulk {i}", status="todo", position=10**12 + i * POSITION_GAP) for i in range(BOARD_PER_COLUMN + 5)
    )
    with django_assert_max_num_queries(9):
        response = web.get(reverse("task_board"))
    page = response.content.decode()
    assert f"Showing the first {BOARD_PER_COLUMN} of" in page
    assert f"Bulk {BOARD_PER_COLUMN - 1}<" in page
    assert f"Bulk {BOARD_PER_COLUMN}<" not in page


def insert_many_tasks(count: int, *, sponsor_id: int | None) -> None:
    """Insert `count` tasks in one INSERT … SELECT (PostgreSQL), spread over the three columns.

    Every column gets its model default, so the statement keeps working as fields are added.
    """
    template = Task(title="x", sponsor_id=sponsor_id)
    overrides = {
        "id": "gen_random_uuid()",
        "title": "'Task ' || i",
        "status": "(ARRAY['todo','in_progress','done'])[1 + i %% 3]",
        "position": f"i::bigint * {POSITION_GAP}",
        "due_at": "now() + (i %% 40 - 20) * interval '1 day'",
        "completed_at": "CASE WHEN i %% 3 = 2 THEN now() END",
    }
    columns, values, params = [], [], []
    for field in Task._meta.concrete_fields:
        columns.append(connection.ops.quote_name(field.column))
        if field.attname in overrides:
            values.append(overrides[field.attname])
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(getattr(template, field.attname), connection))
    table = connection.ops.quote_name(Task._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)}"
            f" FROM generate_series(1, {int(count)}) AS i",
            params,
        )


@pytest.mark.postgres_only
def test_board_with_100k_tasks_runs_under_10_queries(web: Any, django_assert_max_num_queries: Any) -> None:
    insert_many_tasks(100_000, sponsor_id=SponsorFactory().pk)
    with django_assert_max_num_queries(9):
        response = web.get(reverse("task_board"))
    assert response.status_code == 200
    assert "Showing the first" in response.content.decode()
    assert sum(c["total"] for c in response.context["columns"]) == 100_000


def test_drag_between_columns_persists_status_and_order_and_is_audited(web: Any, user: Any) -> None:
    a = TaskFactory(title="A", status="todo")
    b = TaskFactory(title="B", status="in_progress")
    c = TaskFactory(title="C", status="in_progress")
    response = web.post(
        reverse("task_move", args=[a.pk]),
        {"status": "in_progress", "after_id": str(b.pk), "before_id": str(c.pk)},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["status"] == "in_progress"
    assert column_titles("in_progress") == ["B", "A", "C"]
    assert column_titles("todo") == []
    a.refresh_from_db()
    assert body["position"] == a.position
    event = AuditEvent.objects.get(action="task.move", object_id=str(a.pk))
    assert event.origin == "web"
    assert event.actor_user == user
    assert event.changes["status"] == ["todo", "in_progress"]
    # The board shows the new order.
    page = web.get(reverse("task_board")).content.decode()
    assert page.index(f'id="task-{b.pk}"') < page.index(f'id="task-{a.pk}"') < page.index(f'id="task-{c.pk}"')


def test_reorder_within_a_column(web: Any) -> None:
    a, _b, c = (TaskFactory(title=t, status="todo") for t in "ABC")
    response = web.post(
        reverse("task_move", args=[c.pk]), {"status": "todo", "before_id": str(a.pk)}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    assert column_titles("todo") == ["C", "A", "B"]


def test_move_accepts_a_json_body(web: Any) -> None:
    a, b = TaskFactory(title="A", status="todo"), TaskFactory(title="B", status="todo")
    response = web.post(
        reverse("task_move", args=[a.pk]),
        {"after_id": str(b.pk)},
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert column_titles("todo") == ["B", "A"]


def test_move_with_a_vanished_neighbour_is_a_409(web: Any) -> None:
    a = TaskFactory(title="A", status="todo")
    gone = TaskFactory(title="Gone", status="todo")
    gone_id = gone.pk
    gone.delete()
    response = web.post(reverse("task_move", args=[a.pk]), {"after_id": str(gone_id)}, HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert response.json()["ok"] is False
    assert "reload" in response.json()["message"]


def test_move_with_neighbour_in_another_column_is_a_409(web: Any) -> None:
    a = TaskFactory(title="A", status="todo")
    b = TaskFactory(title="B", status="done")
    response = web.post(
        reverse("task_move", args=[a.pk]), {"status": "todo", "after_id": str(b.pk)}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 409
    a.refresh_from_db()
    assert a.status == "todo"


@pytest.mark.parametrize(
    "data", [{"status": "archived"}, {"after_id": "not-a-uuid"}, {"before_id": "\x00"}, {"status": "x" * 5000}]
)
def test_move_with_bad_input_is_a_400_not_a_500(web: Any, data: dict[str, str]) -> None:
    a = TaskFactory(status="todo")
    response = web.post(reverse("task_move", args=[a.pk]), data, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["ok"] is False


def test_move_of_unknown_task_is_a_404(web: Any) -> None:
    response = web.post(
        reverse("task_move", args=["6f1b8b8e-1111-4a4a-9b9b-123456789abc"]),
        {"status": "done"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 404


def test_move_needs_post(web: Any) -> None:
    task = TaskFactory()
    assert web.get(reverse("task_move", args=[task.pk])).status_code == 405


def test_keyboard_move_without_javascript_redirects_back_to_the_card(web: Any) -> None:
    a, b = TaskFactory(title="A", status="todo"), TaskFactory(title="B", status="todo")
    # The "Move up" button of card B posts before_id = A.
    response = web.post(reverse("task_move", args=[b.pk]), {"before_id": str(a.pk)})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('task_board')}#task-{b.pk}"
    assert column_titles("todo") == ["B", "A"]
    # "To Done": only the status.
    response = web.post(reverse("task_move", args=[a.pk]), {"status": "done"}, follow=True)
    assert column_titles("done") == ["A"]
    assert "Moved “A” to Done." in response.content.decode()
    a.refresh_from_db()
    assert a.completed_at is not None


def test_board_move_menu_offers_the_right_neighbours(web: Any) -> None:
    a, b = TaskFactory(title="A", status="todo"), TaskFactory(title="B", status="todo")
    page = web.get(reverse("task_board")).content.decode()
    assert f'name="after_id" value="{b.pk}" data-move="down"' in page  # A's "Move down"
    assert f'name="before_id" value="{a.pk}" data-move="up"' in page  # B's "Move up"


# --- List and CSV -----------------------------------------------------------------------------


def test_list_filters_and_keeps_them_in_the_form(web: Any) -> None:
    acme = SponsorFactory(name="Acme")
    TaskFactory(title="Acme high", priority="high", sponsor=acme)
    TaskFactory(title="Acme low", priority="low", sponsor=acme)
    TaskFactory(title="Other high", priority="high")
    response = web.get(reverse("task_list"), {"priority": "high", "sponsor_id": acme.pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Acme high" in page
    assert "Acme low" not in page and "Other high" not in page
    assert '<option value="high" selected>' in page
    assert "1 task match these filters" in page


def test_list_search_overdue_and_due_dates(web: Any) -> None:
    now = timezone.now()
    TaskFactory(title="Late flyer", due_at=now - dt.timedelta(days=3))
    TaskFactory(title="Future flyer", due_at=now + dt.timedelta(days=10))
    TaskFactory(title="Poster", description="a flyer too", due_at=now - dt.timedelta(days=3), status="done")
    titles = lambda r: [t.title for t in r.context["tasks"]]  # noqa: E731
    assert sorted(titles(web.get(reverse("task_list"), {"q": "flyer"}))) == ["Future flyer", "Late flyer", "Poster"]
    assert titles(web.get(reverse("task_list"), {"overdue": "true"})) == ["Late flyer"]
    soon = (now + dt.timedelta(days=5)).date().isoformat()
    assert titles(web.get(reverse("task_list"), {"due_after": soon})) == ["Future flyer"]


def test_list_sorting_by_column_header(web: Any) -> None:
    TaskFactory(title="Bravo")
    TaskFactory(title="Alpha")
    TaskFactory(title="Charlie")
    response = web.get(reverse("task_list"), {"order": "title"})
    assert [t.title for t in response.context["tasks"]] == ["Alpha", "Bravo", "Charlie"]
    page = response.content.decode()
    assert 'aria-sort="ascending"' in page
    assert "?order=due_at" in page  # the "Due" header links to its sort


@pytest.mark.parametrize(
    "params",
    [
        {"status": "nope"},
        {"due_before": "yesterday"},
        {"sponsor_id": "99999999999999999999999"},
        {"sponsor_id": "abc"},
        {"q": "bad\x00text"},
        {"order": "password"},
        {"lead_id": "-4"},
        {"page": "lots"},
        {"page": "99999999999999999999"},
        {"due_after": "2024-05-10", "due_before": "2024-05-01"},
    ],
)
def test_list_bad_filters_show_an_error_not_a_500(web: Any, params: dict[str, str]) -> None:
    TaskFactory(title="Still listed")
    response = web.get(reverse("task_list"), params)
    assert response.status_code == 200
    page = response.content.decode()
    if "due_after" not in params:
        assert "Still listed" in page
    if "page" not in params:
        assert "Some filters were ignored" in page


def test_list_paginates_50_per_page_in_constant_queries(web: Any, django_assert_max_num_queries: Any) -> None:
    Task.objects.bulk_create(
        Task(title=f"T{i:03}", sponsor=SponsorFactory() if i < 3 else None, position=10**12 + i * POSITION_GAP)
        for i in range(120)
    )
    # Session, user, count, page, sponsors and leads for the filters, "data fresh as of".
    with django_assert_max_num_queries(7):
        first = web.get(reverse("task_list"), {"order": "title"})
    assert len(first.context["tasks"]) == 50
    assert "Page 1 of 3" in first.content.decode()
    with django_assert_max_num_queries(7):
        last = web.get(reverse("task_list"), {"order": "title", "page": 3, "sponsor_id": ""})
    assert next(t.title for t in last.context["tasks"]) == "T100"


def test_list_htmx_request_returns_only_the_results(web: Any) -> None:
    TaskFactory(title="Partial row")
    response = web.get(reverse("task_list"), {"order": "title"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "Partial row" in page
    assert "<html" not in page
    assert 'hx-swap-oob="true"' in page  # the "Sort by" field follows the header links


def test_list_empty_states(web: Any) -> None:
    assert "No tasks yet" in web.get(reverse("task_list")).content.decode()
    TaskFactory(title="Something")
    page = web.get(reverse("task_list"), {"q": "zzz"}).content.decode()
    assert "No tasks match these filters" in page
    assert "Clear all filters" in page


def test_csv_export_streams_all_filtered_rows_with_a_header(web: Any) -> None:
    acme = SponsorFactory(name="Acme")
    Task.objects.bulk_create(
        Task(title=f"High {i}", priority="high", sponsor=acme, position=10**12 + i * POSITION_GAP) for i in range(120)
    )
    TaskFactory(title="Low one", priority="low")
    response = web.get(reverse("task_export_csv"), {"priority": "high"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response.streaming
    rows = csv_rows(response)
    assert rows[0][:4] == ["id", "title", "status", "priority"]
    assert len(rows) == 121  # header + every match, not just one page
    assert {r[1] for r in rows[1:]} == {f"High {i}" for i in range(120)}
    assert {r[5] for r in rows[1:]} == {"Acme"}


def test_csv_export_neutralises_formulas(web: Any) -> None:
    TaskFactory(title='=HYPERLINK("http://evil")', description="+cmd", notes="@SUM(A1)")
    TaskFactory(title="-2+3")
    TaskFactory(title="Plain title")
    rows = csv_rows(web.get(reverse("task_export_csv"), {"order": "title"}))
    cells = [cell for row in rows[1:] for cell in row]
    assert '\'=HYPERLINK("http://evil")' in cells
    assert "'+cmd" in cells and "'@SUM(A1)" in cells and "'-2+3" in cells
    assert "Plain title" in cells
    assert not any(cell[:1] in ("=", "+", "-", "@") for cell in cells if cell)


def test_csv_export_with_bad_filters_goes_back_to_the_list(web: Any) -> None:
    response = web.get(reverse("task_export_csv"), {"status": "nope"}, follow=True)
    assert response.status_code == 200
    assert "Fix the highlighted filters" in response.content.decode()


def test_list_export_link_keeps_the_filters(web: Any) -> None:
    TaskFactory(priority="high")
    page = web.get(reverse("task_list"), {"priority": "high", "page": "1"}).content.decode()
    assert f'{reverse("task_export_csv")}?priority=high"' in page


# --- Create, edit, delete, detail -------------------------------------------------------------


def test_create_task_through_the_form(web: Any, user: Any) -> None:
    sponsor = SponsorFactory(name="Globex")
    assignee = UserFactory(username="carol")
    page = web.get(reverse("task_create")).content.decode()
    assert 'type="datetime-local"' in page and 'for="id_title"' in page
    response = web.post(
        reverse("task_create"),
        {
            "title": "  Plan the launch  ",
            "description": "Line one\r\nLine two",
            "status": "in_progress",
            "priority": "high",
            "due_at": "2031-05-04T09:30",
            "sponsor": sponsor.pk,
            "assignee": assignee.pk,
            "notes": "",
        },
        follow=True,
    )
    task = Task.objects.get()
    assert response.redirect_chain[-1][0] == reverse("task_detail", args=[task.pk])
    assert task.title == "Plan the launch"
    assert task.description == "Line one\nLine two"
    assert (task.status, task.priority, task.sponsor, task.assignee) == ("in_progress", "high", sponsor, assignee)
    assert task.due_at == dt.datetime(2031, 5, 4, 9, 30, tzinfo=dt.UTC)
    assert task.created_by == user
    assert "Created “Plan the launch”." in response.content.decode()
    assert AuditEvent.objects.get(action="task.create").origin == "web"


def test_create_prefills_status_from_the_board_column(web: Any) -> None:
    page = web.get(reverse("task_create"), {"status": "done"}).content.decode()
    assert '<option value="done" selected>' in page


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"title": "   "}, "title", "This field is required."),
        ({"title": "x" * 256}, "title", "at most 255 characters"),
        ({"title": "ok", "status": "archived"}, "status", "Select a valid choice"),
        ({"title": "ok", "due_at": "next tuesday"}, "due_at", "Enter a valid date/time"),
        ({"title": "ok", "sponsor": "999999"}, "sponsor", "Select a valid choice"),
        ({"title": "nul\x00byte"}, "title", "Null characters are not allowed"),
    ],
)
def test_create_form_errors_are_shown_on_the_field(web: Any, data: dict[str, str], field: str, message: str) -> None:
    payload = {"status": "todo", "priority": "medium", **data}
    response = web.post(reverse("task_create"), payload)
    assert response.status_code == 200
    assert Task.objects.count() == 0
    form = response.context["form"]
    assert field in form.errors
    page = response.content.decode()
    assert message in page
    assert f'id="id_{field}-errors"' in page
    assert 'aria-invalid="true"' in page


def test_edit_task_changes_fields_and_records_history(web: Any, user: Any) -> None:
    task = TaskFactory(title="Old title", priority="low", due_at=dt.datetime(2030, 1, 1, 8, 0, 42, tzinfo=dt.UTC))
    page = web.get(reverse("task_edit", args=[task.pk])).content.decode()
    assert 'value="Old title"' in page
    assert 'value="2030-01-01T08:00"' in page
    response = web.post(
        reverse("task_edit", args=[task.pk]),
        {"title": "New title", "status": "done", "priority": "low", "due_at": "2030-01-01T08:00"},
        follow=True,
    )
    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.title, task.status) == ("New title", "done")
    assert task.completed_at is not None
    assert task.due_at.second == 42  # the untouched due date keeps its seconds
    event = AuditEvent.objects.get(action="task.update")
    assert event.origin == "web" and event.actor_user == user
    assert set(event.changes) == {"title", "status", "position"}
    page = response.content.decode()
    assert "Saved “New title”." in page
    assert "Old title" in page and "New title" in page  # the history shows before → after


def test_edit_form_errors_keep_the_task_unchanged(web: Any) -> None:
    task = TaskFactory(title="Keep me")
    response = web.post(reverse("task_edit", args=[task.pk]), {"title": "", "status": "todo", "priority": "bad"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"title", "priority"}
    task.refresh_from_db()
    assert task.title == "Keep me"


def test_edit_imported_task(web: Any) -> None:
    task = TaskFactory(title="From Asana", source="asana", external_id="123")
    page = web.get(reverse("task_edit", args=[task.pk])).content.decode()
    assert "imported from Asana" in page
    web.post(reverse("task_edit", args=[task.pk]), {"title": "Edited", "status": "todo", "priority": "medium"})
    task.refresh_from_db()
    assert task.title == "Edited"


def test_delete_asks_then_deletes(web: Any) -> None:
    task = TaskFactory(title="Doomed")
    page = web.get(reverse("task_delete", args=[task.pk])).content.decode()
    assert "Delete this task?" in page and "Doomed" in page
    assert Task.objects.filter(pk=task.pk).exists()
    response = web.post(reverse("task_delete", args=[task.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("task_list")
    assert not Task.objects.filter(pk=task.pk).exists()
    assert "Deleted “Doomed”." in response.content.decode()
    assert AuditEvent.objects.get(action="task.delete").origin == "web"


def test_detail_shows_fields_and_history_timeline(web: Any) -> None:
    sponsor = SponsorFactory(name="Initech")
    other = SponsorFactory(name="Umbrella")
    web.post(
        reverse("task_create"),
        {"title": "Detail me", "status": "todo", "priority": "medium", "sponsor": sponsor.pk, "notes": "Call Bob"},
    )
    task = Task.objects.get()
    web.post(
        reverse("task_edit", args=[task.pk]),
        {"title": "Detail me", "status": "in_progress", "priority": "high", "sponsor": other.pk, "notes": "Call Bob"},
    )
    response = web.get(reverse("task_detail", args=[task.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Detail me" in page and "Umbrella" in page and "Call Bob" in page
    assert "created the task" in page and "edited the task" in page
    assert "alice" in page and "via Dashboard" in page
    # Foreign keys in the history are shown by name, before → after.
    assert "Initech" in page
    assert page.index("Initech") < page.rindex("Umbrella")


def test_unknown_task_pages_are_404(web: Any) -> None:
    missing = "6f1b8b8e-1111-4a4a-9b9b-123456789abc"
    for name in ("task_detail", "task_edit", "task_delete"):
        response = web.get(reverse(name, args=[missing]))
        assert response.status_code == 404
    assert "Page not found" in web.get(f"/tasks/{missing}/").content.decode()
