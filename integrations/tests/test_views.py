from __future__ import annotations

import pytest
from django.test import Client
from django_q.models import Schedule

from integrations.models import SyncRecordError, SyncRun
from integrations.schedules import schedules_install
from sponsors.tests.factories import SponsorFactory

pytestmark = pytest.mark.django_db


def test_sync_centre_shows_connectors_schedules_running_and_history(web, no_credentials):
    schedules_install()
    sponsor = SponsorFactory(name="Acme")
    running = SyncRun.objects.create(
        connector="asana",
        scope=sponsor.sync_scope,
        sponsor=sponsor,
        heartbeat_at="2030-01-01T00:00:00Z",
        pages=2,
        fetched=150,
    )
    failed = SyncRun.objects.create(
        connector="salesforce", scope=sponsor.sync_scope, sponsor=sponsor, status="failed", error="Salesforce HTTP 401"
    )

    html = web.get("/sync/").content.decode()

    assert "Sync centre" in html and "Google Calendar" in html and html.count(">Demo<") >= 3
    assert "sponsors: pull tasks" in html and "every minute" in html
    assert "Page 2 · 150 fetched" in html, "live progress of the running pull"
    assert "not running" in html, "the cluster is down in tests"
    assert "Failed" in html and "Pause schedules" not in html, "controls are for staff only"
    live = web.get("/sync/live/").content.decode()
    assert 'hx-trigger="every 2s"' in live
    filtered = web.get("/sync/", {"connector": "salesforce"}).content.decode()
    assert f"#{failed.pk} Salesforce" in filtered and f"#{running.pk} Asana" not in filtered


def test_staff_can_pause_resume_and_run_now(
    staff_web, user, no_credentials, settings, django_capture_on_commit_callbacks
):
    settings.SYNC_JOBS_INLINE = True
    schedules_install()
    SponsorFactory()

    assert staff_web.post("/sync/scheduler/pause/").status_code == 302
    assert Schedule.objects.get(name="sponsors: pull tasks").repeats == 0
    assert "Resume schedules" in staff_web.get("/sync/").content.decode()
    assert staff_web.post("/sync/scheduler/resume/").status_code == 302
    assert Schedule.objects.get(name="sponsors: pull tasks").repeats == -1

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_web.post("/sync/scheduler/run-now/", {"job": "sponsors: pull tasks"})
    assert response.status_code == 302 and SyncRun.objects.filter(status="succeeded").count() == 3

    other = Client()
    other.force_login(user)
    assert other.post("/sync/scheduler/pause/").status_code == 403
    assert Schedule.objects.get(name="sponsors: pull tasks").repeats == -1


def test_run_detail_drills_down_into_errors_and_conflicts(web):
    run = SyncRun.objects.create(
        connector="salesforce",
        scope="sponsor:9",
        status="partial",
        failed=1,
        conflicts=1,
        finished_at="2030-01-01T00:00:00Z",
    )
    SyncRecordError.objects.create(
        run=run,
        external_id="00TBAD",
        message="Unreadable record: bad date",
        detail={"Id": "00TBAD", "ActivityDate": "31/12"},
    )
    SyncRecordError.objects.create(
        run=run,
        kind="conflict",
        external_id="00TC",
        message="status changed on both sides",
        detail={"field": "status", "baseline": "todo", "local": "done", "upstream": "in_progress", "kept": "local"},
    )

    html = web.get(f"/sync/runs/{run.pk}/").content.decode()
    assert "00TBAD" in html and "Unreadable record: bad date" in html and "31/12" in html
    assert "kept the <strong>local</strong> value" in html and "Partial" in html
    only_conflicts = web.get(f"/sync/runs/{run.pk}/", {"kind": "conflict"}).content.decode()
    assert "00TBAD" not in only_conflicts and "00TC" in only_conflicts
    assert web.get("/sync/runs/999/").status_code == 404
