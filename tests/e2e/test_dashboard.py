"""The dashboard in a real browser: headless Chromium (Playwright) against the live server.

Every test signs in through the real login form (`demo_login`), acts as a person would (clicks,
typing, pointer drags, the keyboard) and checks what the page shows after a reload and what the
database holds.

TODO(issue 7): add `test_sync_centre_runs_a_sync_with_progress` (open the sync centre, run a
sync, see its progress and the finished run) once the sync centre page (URL name `sync_center`)
has landed, and `test_campaign_charts_render` (the campaigns page draws its Chart.js canvases)
once the campaigns analytics page (URL name `campaign_list`) has landed.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from accounts.actor import Actor
from accounts.models import AuditEvent
from tasks import services
from tasks.models import Task

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

SEEDER = Actor.system_job("e2e seed")


def _task(title: str, **fields: Any) -> Task:
    """A task created through the service, so positions are those of a real board."""
    return services.task_create(actor=SEEDER, title=title, **fields)


def _column_titles(page: Any, status: str) -> list[str]:
    return page.locator(f'.board-list[data-status="{status}"] > .task-card .task-card-title').all_inner_texts()


def _db_column_titles(status: str) -> list[str]:
    return list(Task.objects.filter(status=status).order_by("position").values_list("title", flat=True))


def _drag(page: Any, source: Any, target: Any, *, where: str) -> None:
    """Drag `source` to just `where` ("above" / "below") `target` with real pointer events.

    SortableJS listens to the browser's own drag events; Playwright turns these mouse steps into
    a native drag in Chromium. The grab point is the card's meta row (not its link or Move
    menu). SortableJS decides from the path, as for a hand: inside a column the card swaps
    with the card it is pulled over; into another column it lands above or below the middle of
    the card it enters. So a move to another column travels through the gap beside the
    columns and enters the target card from the side.
    """
    grab = source.locator(".task-card-meta")
    grab.hover()
    start = grab.bounding_box()
    box = target.bounding_box()
    assert start is not None and box is not None
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    x1 = box["x"] + box["width"] / 2
    y1 = box["y"] + box["height"] * (0.25 if where == "above" else 0.75)
    column_of = "el => el.closest('.board-list') && el.closest('.board-list').dataset.status"
    same_column = source.evaluate(column_of) == target.evaluate(column_of)
    page.mouse.down()
    page.mouse.move(x0, y0 + 6, steps=3)  # starts the drag
    if same_column:
        page.mouse.move(x0, y1, steps=15)
    else:
        gap_x = box["x"] - 10 if box["x"] > x0 else box["x"] + box["width"] + 10
        page.mouse.move(gap_x, y0 + 6, steps=8)
        page.mouse.move(gap_x, y1, steps=8)
        page.mouse.move(x1, y1, steps=8)
    page.mouse.up()


def test_login_create_task_and_see_it_on_the_board(demo_login: Any, live_server: Any) -> None:
    page = demo_login
    page.get_by_role("link", name="New task").first.click()
    page.wait_for_url(re.compile(r"/tasks/new/$"))
    page.get_by_label("Title").fill("Call the venue about the stage")
    page.get_by_label("Priority").select_option("high")
    page.get_by_label("Description").fill("Ask about the load-in time.")
    page.get_by_role("button", name="Create task").click()

    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Call the venue about the stage"
    task = Task.objects.get(title="Call the venue about the stage")
    assert (task.status, task.priority, task.created_by.username) == ("todo", "high", "eve")

    page.goto(f"{live_server.url}/tasks/board/")
    card = page.locator(f"#task-{task.pk}")
    assert card.is_visible()
    assert card.locator("xpath=..").get_attribute("data-status") == "todo"
    assert page.locator('[data-column="todo"] [data-count]').inner_text() == "1"


def test_a_form_error_is_shown_next_to_the_field(demo_login: Any, live_server: Any) -> None:
    page = demo_login
    page.goto(f"{live_server.url}/tasks/new/")
    page.get_by_label("Title").fill("   ")
    page.get_by_role("button", name="Create task").click()
    page.wait_for_load_state()
    assert page.locator("#id_title.is-invalid").count() == 1
    assert "required" in page.locator(".invalid-feedback").first.inner_text().lower()
    assert Task.objects.count() == 0


def test_drag_to_another_column_and_place_persists(demo_login: Any, live_server: Any) -> None:
    a, b, c = _task("Alpha"), _task("Bravo"), _task("Charlie")
    d = _task("Delta", status="in_progress")
    e = _task("Echo", status="in_progress")
    page = demo_login
    page.goto(f"{live_server.url}/tasks/board/")
    assert _column_titles(page, "todo") == ["Alpha", "Bravo", "Charlie"]

    def drag(task: Task, target: Any, where: str) -> dict[str, Any]:
        with page.expect_response(lambda r: r.url.endswith(f"/tasks/{task.pk}/move/")) as moved:
            _drag(page, page.locator(f"#task-{task.pk}"), target, where=where)
        assert moved.value.status == 200, moved.value.text()
        return moved.value.json()

    # Charlie (To do) goes between Delta and Echo (In progress).
    assert drag(c, page.locator(f"#task-{e.pk}"), "above")["status"] == "in_progress"
    assert _column_titles(page, "in_progress") == ["Delta", "Charlie", "Echo"]
    # Alpha goes below Bravo inside its own column.
    assert drag(a, page.locator(f"#task-{b.pk}"), "below")["status"] == "todo"
    assert _column_titles(page, "todo") == ["Bravo", "Alpha"]
    # Bravo goes into the empty Done column.
    assert drag(b, page.locator('.board-list[data-status="done"]'), "above")["status"] == "done"
    assert page.locator('[data-column="done"] [data-count]').inner_text() == "1"

    page.reload()
    assert _column_titles(page, "todo") == ["Alpha"]
    assert _column_titles(page, "in_progress") == ["Delta", "Charlie", "Echo"]
    assert _column_titles(page, "done") == ["Bravo"]
    assert page.locator('[data-column="in_progress"] [data-count]').inner_text() == "3"
    assert _db_column_titles("todo") == ["Alpha"]
    assert _db_column_titles("in_progress") == ["Delta", "Charlie", "Echo"]
    assert _db_column_titles("done") == ["Bravo"]
    b.refresh_from_db()
    assert b.completed_at is not None
    moves = AuditEvent.objects.filter(action="task.move", actor_user__username="eve", origin="web")
    assert sorted(moves.values_list("object_id", flat=True)) == sorted(str(t.pk) for t in (a, b, c))
    assert not AuditEvent.objects.filter(action="task.move", object_id=str(d.pk)).exists()


def test_keyboard_move_menu_moves_cards(demo_login: Any, live_server: Any) -> None:
    a, b = _task("Alpha"), _task("Bravo")
    page = demo_login
    page.goto(f"{live_server.url}/tasks/board/")

    def choose(task: Task, label: str) -> None:
        """Open the card's Move menu with the keyboard and pick `label` with the arrow keys."""
        page.locator(f"#task-{task.pk} .move-toggle").focus()
        page.keyboard.press("Enter")
        menu = page.locator(f"#task-{task.pk} .move-menu")
        menu.wait_for(state="visible")
        for _ in range(8):
            page.keyboard.press("ArrowDown")
            focused = page.evaluate("document.activeElement.textContent.trim()")
            if focused == label:
                break
        else:
            pytest.fail(f"{label!r} is not reachable with the arrow keys in the Move menu")
        with page.expect_response(lambda r: r.url.endswith(f"/tasks/{task.pk}/move/")) as moved:
            page.keyboard.press("Enter")
        assert moved.value.status == 200

    choose(b, "Move up")
    assert _column_titles(page, "todo") == ["Bravo", "Alpha"]
    choose(a, "To Done")
    assert _column_titles(page, "done") == ["Alpha"]
    # The keyboard focus stays on the moved card's Move button, ready for the next move.
    assert page.evaluate("document.activeElement.closest('.task-card').id") == f"task-{a.pk}"

    page.reload()
    assert _column_titles(page, "todo") == ["Bravo"]
    assert _column_titles(page, "done") == ["Alpha"]
    a.refresh_from_db()
    assert a.status == "done" and a.completed_at is not None


def test_filter_the_list_and_export_only_the_filtered_rows_as_csv(demo_login: Any, live_server: Any) -> None:
    wanted = [_task("Invoice sponsor A", status="done"), _task("Invoice sponsor B", status="done")]
    _task("Invoice sponsor C")  # matches the search, not the status
    _task("Book the hall", status="done")  # matches the status, not the search
    page = demo_login
    page.goto(f"{live_server.url}/tasks/")
    assert page.locator("table.task-table tbody tr").count() == 4

    # The list updates in place (htmx) as the filters change, and the URL follows them.
    page.get_by_label("Search").fill("invoice")
    page.wait_for_url(re.compile(r"[?&]q=invoice"))
    page.wait_for_function("document.querySelectorAll('table.task-table tbody tr').length === 3")
    page.get_by_label("Status").select_option("done")
    page.wait_for_url(re.compile(r"(?=.*[?&]status=done)(?=.*[?&]q=invoice)"))
    page.wait_for_function("document.querySelectorAll('table.task-table tbody tr').length === 2")
    assert sorted(page.locator("table.task-table tbody td.task-title-cell").all_inner_texts()) == [
        "Invoice sponsor A",
        "Invoice sponsor B",
    ]

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert sorted(row["id"] for row in rows) == sorted(str(t.pk) for t in wanted)
    assert {row["status"] for row in rows} == {"done"}

    # A reload keeps the filters (they are in the URL) and the same two rows.
    page.reload()
    assert page.locator("table.task-table tbody tr").count() == 2


def test_task_page_shows_its_audit_history(demo_login: Any, live_server: Any) -> None:
    task = _task("Draft the newsletter")
    page = demo_login
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    page.get_by_role("link", name="Edit").first.click()
    page.get_by_label("Title").fill("Send the newsletter")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"{live_server.url}/tasks/{task.pk}/")

    history = page.locator(".timeline")
    items = history.locator(".timeline-item")
    assert items.count() == 2
    newest = items.first.inner_text()
    assert "eve" in newest and "edited the task" in newest and "via Dashboard" in newest
    assert "Draft the newsletter" in newest and "Send the newsletter" in newest
    assert "created the task" in items.nth(1).inner_text()


def test_log_out_then_pages_redirect_to_login(demo_login: Any, live_server: Any, browser: Any) -> None:
    page = demo_login
    old_session = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.goto(f"{live_server.url}/")
    assert re.search(r"/accounts/login/\?next=/$", page.url)
    assert page.locator("input[name=password]").is_visible()

    # The old session cookie is dead on the server too: replaying it gets the login page.
    replay = browser.new_context()
    try:
        replay.add_cookies([old_session])
        other = replay.new_page()
        other.goto(f"{live_server.url}/tasks/board/")
        assert "/accounts/login/" in other.url
    finally:
        replay.close()
