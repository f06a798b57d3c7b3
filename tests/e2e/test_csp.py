"""Every main page runs under the Content-Security-Policy in a real browser (issue 17, part 3).

Each page is loaded in Chromium with a `securitypolicyviolation` listener installed before any
of its scripts run; the page must report no violation (and, through the `page` fixture, no
console error, no JavaScript error, no failed static file), and its own JavaScript must still do
its job: the board made its columns sortable, the charts were drawn, the filter updated the list
through htmx, Swagger UI listed the operations, the admin's actions script counted a selection.

A control test injects an inline script and an inline style into a page: both are blocked and
reported, so a page that needed either would fail here.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.actor import Actor
from campaigns.models import Campaign, CampaignDay
from leads.models import Lead
from sponsors.models import Sponsor
from tasks import services

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

SEEDER = Actor.system_job("e2e csp seed")

# Runs in every document before its own scripts (Playwright injects it; the policy does not apply).
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _violations(page: Any) -> list[str]:
    return page.evaluate("() => window.__cspViolations || []")


@pytest.fixture
def world() -> dict[str, Any]:
    sponsor = Sponsor.objects.create(name="Acme Events")
    tasks = [
        services.task_create(actor=SEEDER, title="Book the venue", sponsor=sponsor),
        services.task_create(actor=SEEDER, title="Print the badges", status="in_progress"),
        services.task_create(actor=SEEDER, title="Send the invoices", status="done"),
    ]
    Lead.objects.create(sheet_id="lead-1", name="Lena Lead", email="lena@example.com")
    today = timezone.localdate()
    campaign = Campaign.objects.create(channel="facebook", external_id="c1", name="Spring launch")
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
    return {"sponsor": sponsor, "tasks": tasks, "campaign": campaign}


def _check_board(page: Any) -> None:
    page.wait_for_function("() => window.Sortable && document.querySelectorAll('.board-list').length === 3")
    sortable = page.evaluate("() => [...document.querySelectorAll('.board-list')].map(el => !!Sortable.get(el))")
    assert sortable == [True, True, True], "SortableJS did not bind the board's columns"


def _check_charts(page: Any) -> None:
    page.wait_for_function(
        "() => window.Chart && document.querySelectorAll('canvas').length > 0"
        " && [...document.querySelectorAll('canvas')].every(c => Chart.getChart(c))"
    )
    points = page.evaluate(
        "() => [...document.querySelectorAll('canvas')].map(c =>"
        " Chart.getChart(c).data.datasets.reduce((n, d) => n + d.data.length, 0))"
    )
    assert points and all(n > 0 for n in points), points


def _check_progress_bars(page: Any) -> None:
    widths = page.evaluate(
        "() => [...document.querySelectorAll('.progress-bar[data-width]')]"
        ".map(el => [el.dataset.width, el.style.width, el.getBoundingClientRect().width])"
    )
    assert len(widths) == 3, widths
    for wanted, set_to, pixels in widths:
        assert set_to == f"{wanted}%", widths
        assert pixels > 0, widths  # each column holds one of the three tasks


def _check_task_filter(page: Any) -> None:
    assert page.locator("#task-results tbody tr").count() == 3
    page.fill("#id_q", "badges")
    page.wait_for_url(re.compile(r"[?&]q=badges"))
    page.wait_for_function("() => document.querySelectorAll('#task-results tbody tr').length === 1")
    assert "Print the badges" in page.locator("#task-results").inner_text()


def _check_swagger(page: Any) -> None:
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert page.locator(".swagger-ui .opblock").count() > 20


def _check_admin_actions(page: Any) -> None:
    page.check("#action-toggle")
    page.wait_for_function("() => /3 of 3 selected/.test(document.querySelector('.action-counter').textContent)")


def _check_htmx(page: Any) -> None:
    assert page.evaluate("() => !!window.htmx && htmx.config.includeIndicatorStyles === false")


def _check_nothing(page: Any) -> None:
    return None


def test_every_main_page_runs_under_the_policy(
    demo_login: Any, live_server: Any, world: dict[str, Any], django_user_model: Any
) -> None:
    django_user_model.objects.filter(username="eve").update(is_superuser=True)  # every admin page
    page = demo_login
    page.add_init_script(COLLECT_VIOLATIONS)
    task = world["tasks"][0]
    pages = [
        ("overview", "/", _check_progress_bars),
        ("board", "/tasks/board/", _check_board),
        ("list", "/tasks/", _check_task_filter),
        ("task page", f"/tasks/{task.pk}/", _check_htmx),
        ("sponsors", "/sponsors/", _check_htmx),
        ("sponsor page", f"/sponsors/{world['sponsor'].pk}/", _check_htmx),
        ("leads", "/leads/", _check_htmx),
        ("campaigns", "/campaigns/", _check_charts),
        ("campaign page", f"/campaigns/{world['campaign'].pk}/", _check_charts),
        ("sync centre", "/sync/", _check_htmx),
        ("settings", "/settings/", _check_htmx),
        ("notifications", "/notifications/", _check_htmx),
        ("audit", "/audit/", _check_htmx),
        ("two-factor settings", "/accounts/2fa/", _check_nothing),
        ("admin", "/admin/", _check_nothing),
        ("admin task list", "/admin/tasks/task/", _check_admin_actions),
        ("API docs", "/api/v1/docs", _check_swagger),
    ]
    failures = []
    for name, path, check in pages:
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 200, f"{name}: {response and response.status}"
        assert "Content-Security-Policy" in {k.title(): v for k, v in response.headers.items()}, name
        check(page)
        found = _violations(page)
        if found:
            failures.append(f"{name} ({path}): {found}")
    assert failures == []


def test_the_authenticator_app_setup_page_runs_under_the_policy(demo_login: Any, live_server: Any) -> None:
    page = demo_login
    page.add_init_script(COLLECT_VIOLATIONS)
    page.goto(f"{live_server.url}/accounts/2fa/totp/activate/")
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    page.fill("input[name=password]", "e2e-pass-123!")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    qr = page.locator("img[src^='data:image/svg+xml']")
    qr.wait_for()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR code (a data: image) did not load"
    assert _violations(page) == []


def test_the_policy_blocks_and_reports_inline_script_and_style(browser: Any, live_server: Any) -> None:
    """The control: what the policy forbids is really blocked in this browser, and reported."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(COLLECT_VIOLATIONS)
        page.goto(f"{live_server.url}/accounts/login/")
        page.evaluate(
            """() => {
                const s = document.createElement("script");
                s.textContent = "window.__inlineRan = true";
                document.body.appendChild(s);
                document.body.insertAdjacentHTML("beforeend", '<p id="styled" style="color: rgb(255, 0, 0)">x</p>');
            }"""
        )
        page.wait_for_function("() => window.__cspViolations.length >= 2")
        assert page.evaluate("() => window.__inlineRan") is None
        assert page.evaluate("() => getComputedStyle(document.getElementById('styled')).color") != "rgb(255, 0, 0)"
        kinds = {v.split()[0] for v in _violations(page)}
        assert kinds == {"script-src-elem", "style-src-attr"}, _violations(page)
    finally:
        context.close()
