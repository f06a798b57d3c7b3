"""The dashboard in a real browser: headless Chromium (Playwright) against the live server.

Every test signs in through the real login form (`demo_login`), acts as a person would (clicks,
typing, pointer drags, the keyboard) and checks what the page shows after a reload and what the
database holds.

The sync centre test pulls from a fake Salesforce on 127.0.0.1 that answers each page slowly,
so the run is seen in progress; the campaigns test checks Chart.js really drew every chart.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from playwright.sync_api import expect
from werkzeug import Response

from accounts.actor import Actor
from accounts.models import AuditEvent
from integrations.models import SyncRun
from integrations.schedules import schedules_install
from integrations.tests.fakes import ACCOUNT, SF_QUERY_PATH, sf_id, sf_page, sf_task
from sponsors.models import Sponsor
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
        # Leave the column downwards and travel below every column, so the card never passes
        # over a column in between (SortableJS would drop it there).
        below = page.evaluate(
            "Math.max(...[...document.querySelectorAll('.board-column, .board-list')]"
            ".map(el => el.getBoundingClientRect().bottom)) + 30"
        )
        gap_x = box["x"] - 10 if box["x"] > x0 else box["x"] + box["width"] + 10
        # Pauses let SortableJS's 150 ms animations settle, as a hand's pace does.
        page.mouse.move(x0, below, steps=8)
        page.wait_for_timeout(200)
        page.mouse.move(gap_x, below, steps=8)
        page.mouse.move(gap_x, y1, steps=8)
        page.wait_for_timeout(200)
        page.mouse.move(x1, y1, steps=8)
    page.wait_for_timeout(200)
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
    # The counts change when the server's answer has been handled: wait for it, don't race it.
    expect(page.locator('[data-column="done"] [data-count]')).to_have_text("1")

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


SYNC_PAGES, PER_PAGE, PAGE_SECONDS = 6, 40, 0.3


def _serve_slow_salesforce(server: Any, last_page: threading.Event) -> None:
    """SYNC_PAGES pages of PER_PAGE tasks, each answered after PAGE_SECONDS, linked by
    nextRecordsUrl like the real query API. The last page waits for `last_page`: the test sees
    the pull mid-way for certain, however slow the machine, and then lets it finish."""

    def page(index: int) -> Any:
        records = [
            sf_task(sf_id(index * PER_PAGE + n), f"Sponsor task {index * PER_PAGE + n}") for n in range(PER_PAGE)
        ]
        locator = f"01gSLOW-{(index + 1) * PER_PAGE}" if index + 1 < SYNC_PAGES else None
        body = json.dumps(sf_page(records, next_locator=locator, total=SYNC_PAGES * PER_PAGE))

        def answer(request: Any) -> Response:
            time.sleep(PAGE_SECONDS)
            if locator is None:
                last_page.wait(60)
            return Response(body, status=200, content_type="application/json;charset=UTF-8")

        return answer

    for index in range(SYNC_PAGES):
        path = SF_QUERY_PATH if index == 0 else f"{SF_QUERY_PATH}/01gSLOW-{index * PER_PAGE}"
        server.expect_request(path, method="GET").respond_with_handler(page(index))


def _wait_db(predicate: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail("timed out waiting for the database")


# The pull runs inside the live server while another request polls it: on SQLite the test
# database is one in-memory connection shared by every server thread, so two requests at once
# would share one transaction. PostgreSQL gives each thread its own connection, as in production.
@pytest.mark.postgres_only
def test_sync_centre_runs_a_sync_with_progress(
    demo_login: Any, live_server: Any, settings: Any, live_salesforce: Any
) -> None:
    # The job runs in the server process instead of a django-q2 cluster (integrations/queue.py):
    # the tab that pressed the button waits for it like a worker would run it.
    settings.SYNC_JOBS_INLINE = True
    schedules_install()
    sponsor = Sponsor.objects.create(name="Acme Events", salesforce_account_id=ACCOUNT)
    last_page = threading.Event()
    _serve_slow_salesforce(live_salesforce, last_page)
    try:
        _run_sync_with_progress(page=demo_login, live_server=live_server, sponsor=sponsor, last_page=last_page)
    finally:
        last_page.set()


def _run_sync_with_progress(*, page: Any, live_server: Any, sponsor: Sponsor, last_page: threading.Event) -> None:
    total = SYNC_PAGES * PER_PAGE

    page.goto(f"{live_server.url}/sync/")
    live = page.locator("#sync-live")
    assert "Nothing running right now." in live.inner_text()
    assert live.locator(".card", has_text="Salesforce").get_by_text("Live").is_visible()
    # Submit without waiting for the answer: it comes when the pull is done.
    page.get_by_role("button", name="Run all syncs now").evaluate("button => button.form.requestSubmit(button)")

    runs = SyncRun.objects.filter(sponsor=sponsor, connector="salesforce")
    _wait_db(lambda: runs.filter(status="running", heartbeat_at__isnull=False).exists())

    watcher = page.context.new_page()
    watcher.set_default_timeout(30_000)
    watcher.goto(f"{live_server.url}/sync/")
    running = watcher.locator("#sync-live li.list-group-item", has_text="Acme Events")
    running.get_by_text("Running").wait_for()
    assert running.get_by_role("progressbar", name="Pull in progress").is_visible()
    progress = re.search(r"Page (\d+) · ([\d,]+) fetched", running.inner_text())
    assert progress is not None, running.inner_text()
    assert int(progress[2].replace(",", "")) < total  # seen mid-way, not after the fact
    last_page.set()

    # The live part refreshes itself (htmx, every 2 s while something runs) until the run is done.
    watcher.locator("#sync-live").get_by_text("Nothing running right now.").wait_for()
    watcher.reload()
    row = watcher.locator("#history tbody tr").first
    assert "Succeeded" in row.inner_text()
    assert re.search(rf"\b{total}\b", row.inner_text())

    # The tab that pressed the button lands back on the sync centre with what it queued.
    page.wait_for_url(re.compile(r"/sync/$"), timeout=30_000)
    queued = page.locator(".alert-success").inner_text()
    assert "Queued now:" in queued and "sponsors: pull tasks" in queued
    run = runs.get()
    assert (run.status, run.fetched, run.created, run.pages) == ("succeeded", total, total, SYNC_PAGES)

    # The run's page and the sponsor's page show the same pull.
    row.get_by_role("link", name=re.compile(rf"#{run.pk} Salesforce")).click()
    watcher.wait_for_url(re.compile(rf"/sync/runs/{run.pk}/$"))
    assert "Succeeded" in watcher.locator("#run-head").inner_text()
    watcher.goto(f"{live_server.url}/sponsors/")
    watcher.get_by_role("link", name="Acme Events").first.click()
    watcher.wait_for_url(re.compile(rf"/sponsors/{sponsor.pk}/$"))
    assert watcher.get_by_role("heading", level=1).inner_text().strip().startswith("Acme Events")
    assert f"({total})" in watcher.locator("#tasks-heading").inner_text()
    card = watcher.locator("#sponsor-sync .card", has_text="Salesforce")
    assert "Succeeded" in card.inner_text() and f"{total} new" in card.inner_text()
    assert watcher.get_by_text("Sponsor task 0", exact=True).is_visible()
    assert Task.objects.filter(sponsor=sponsor, source="salesforce").count() == total
    watcher.close()


def test_campaign_charts_render(demo_login: Any, live_server: Any) -> None:
    """The campaigns analytics page draws every chart (Chart.js made a chart on each canvas,
    with data in it), not just an empty canvas."""
    try:
        url = reverse("campaign_list")
    except NoReverseMatch:
        pytest.skip("the campaigns analytics page (URL name campaign_list) is not mounted")
    from campaigns.models import Campaign, CampaignDay

    today = timezone.localdate()
    for n, channel in enumerate(("facebook", "google_ads")):
        campaign = Campaign.objects.create(channel=channel, external_id=f"c{n}", name=f"Spring launch {channel}")
        CampaignDay.objects.bulk_create(
            CampaignDay(
                campaign=campaign,
                date=today - dt.timedelta(days=day),
                impressions=1000 + day,
                clicks=50 + day,
                conversions=Decimal(5),
                cost=Decimal("20.00") + day,
                revenue=Decimal("45.00") + day,
            )
            for day in range(1, 8)
        )

    page = demo_login
    page.goto(f"{live_server.url}{url}")
    canvases = page.locator("canvas")
    assert canvases.count() >= 1
    page.wait_for_function(
        "() => window.Chart && [...document.querySelectorAll('canvas')].every(c => Chart.getChart(c))"
    )
    charts = page.evaluate(
        """() => [...document.querySelectorAll('canvas')].map(c => {
            const chart = Chart.getChart(c);
            return {id: c.id, width: c.width, height: c.height, type: chart.config.type,
                    points: chart.data.datasets.reduce((n, d) => n + d.data.length, 0)};
        })"""
    )
    for chart in charts:
        assert chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["points"] > 0, chart
