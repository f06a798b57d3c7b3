"""The lead pages: list, lead page (edit), conflict inbox (one click), preview, sync now."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.actor import Actor
from accounts.models import AuditEvent
from integrations.models import SyncRun
from leads.models import Lead, LeadConflict
from leads.services import lead_sheet_sync
from tasks.services import task_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(sheet):
    lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL, initial=True)
    sheet.reset_log()
    return sheet


def make_conflict(sheet) -> LeadConflict:
    sheet.set("lead-1", "status", "CONTACTED")
    task_update(task=Lead.objects.get(sheet_id="lead-1").task, actor=Actor.system_job("t"), status="done")
    lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL, rule="review")
    return LeadConflict.objects.open().get()


def test_list_shows_leads_their_tasks_and_the_sheet_health(web, synced):
    synced.rows.append(["lead-9", "Broken", "x@", "NEW", "", ""])
    lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL)

    response = web.get(reverse("lead_list"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Person 1" in html and "person2@example.com" in html and "To do" in html
    assert "Live" in html and "Malformed email" in html  # the bad row is on the dashboard
    filtered = web.get(reverse("lead_list"), {"status": "LOST"}).content.decode()
    assert "No lead matches" in filtered


def test_empty_list_says_what_to_do(web, sheet):
    html = web.get(reverse("lead_list")).content.decode()
    assert "No leads yet" in html and "Sync now" in html


def test_lead_page_and_edit(web, synced):
    lead = Lead.objects.get(sheet_id="lead-2")

    assert "Person 2" in web.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    response = web.post(
        reverse("lead_edit", args=[lead.pk]),
        {"name": "Person Two", "email": "p2@example.com", "status": "CONTACTED", "source": "Web"},
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.status == "CONTACTED" and lead.task.status == "in_progress"
    assert AuditEvent.objects.filter(action="lead.update", object_id=str(lead.pk)).exists()
    page = web.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    assert "Waiting for the next sync" in page


def test_lead_edit_with_bad_email_shows_the_error(web, synced):
    lead = Lead.objects.get(sheet_id="lead-2")
    response = web.post(reverse("lead_edit", args=[lead.pk]), {"name": "X", "email": "bad", "status": "NEW"})
    assert response.status_code == 422 and "valid email" in response.content.decode()


def test_unknown_lead_is_404(web, synced):
    assert web.get(reverse("lead_detail", args=[999999])).status_code == 404


def test_conflict_inbox_resolves_in_one_click(web, synced):
    conflict = make_conflict(synced)

    inbox = web.get(reverse("lead_conflicts")).content.decode()
    assert "Sheet: <strong>CONTACTED</strong>" in inbox and "Tracker: <strong>QUALIFIED</strong>" in inbox
    response = web.post(reverse("lead_conflict_resolve", args=[conflict.pk]), {"side": "tracker"})

    assert response.status_code == 302
    conflict.refresh_from_db()
    assert conflict.resolution == "tracker" and conflict.resolved_by == "alice"
    lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL, rule="review")
    assert synced.get("lead-1", "status") == "QUALIFIED"
    assert "No conflicts" in web.get(reverse("lead_conflicts")).content.decode()


def test_conflict_resolve_rejects_a_bad_side_and_a_second_click(web, synced):
    conflict = make_conflict(synced)
    web.post(reverse("lead_conflict_resolve", args=[conflict.pk]), {"side": "both"})
    assert LeadConflict.objects.get(pk=conflict.pk).is_open
    web.post(reverse("lead_conflict_resolve", args=[conflict.pk]), {"side": "sheet"})
    response = web.post(reverse("lead_conflict_resolve", args=[conflict.pk]), {"side": "tracker"}, follow=True)
    assert "already settled" in response.content.decode()
    assert LeadConflict.objects.get(pk=conflict.pk).resolution == "sheet"
    assert web.post(reverse("lead_conflict_resolve", args=[999999]), {"side": "sheet"}).status_code == 404


def test_conflicts_show_on_the_lead_page(web, synced):
    conflict = make_conflict(synced)
    html = web.get(reverse("lead_detail", args=[conflict.lead_id])).content.decode()
    assert "Conflicts to settle" in html


def test_preview_shows_the_plan_and_writes_nothing(web, synced):
    synced.set("lead-3", "status", "QUALIFIED")

    html = web.get(reverse("lead_preview")).content.decode()

    assert "lead-3" in html and "changed in the sheet" in html and "Nothing has been written" in html
    assert Lead.objects.get(sheet_id="lead-3").status == "NEW"
    assert synced.count("batchUpdate") == 0


def test_preview_counts_the_rows_typed_in_by_hand_that_get_a_tag(web, synced):
    synced.rows.append(["lead-9", "Typed In", "typed@example.com", "NEW", "Phone", ""])

    html = web.get(reverse("lead_preview")).content.decode()

    assert "1 rows to tag" in html and synced.writes == 0


def test_preview_shows_why_the_sheet_cannot_be_read(web, synced):
    synced.fail("GET", "/v4/", 403)
    html = web.get(reverse("lead_preview")).content.decode()
    assert "Could not read the sheet" in html


def test_sync_now_runs_and_redirects(web, synced, django_capture_on_commit_callbacks):
    synced.set("lead-2", "status", "LOST")
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(reverse("lead_run_now"))
    assert response.status_code == 302
    assert Lead.objects.get(sheet_id="lead-2").task.status == "done"


def test_pages_need_login(client, synced):
    response = client.get(reverse("lead_list"))
    assert response.status_code == 302
