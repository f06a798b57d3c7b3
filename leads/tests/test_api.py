"""/api/v1/leads: list and filters, read, PATCH (to the sheet on the next sync), create,
POST /leads/sync (dry run 200, run 202), the conflict inbox; 4xx for bad input, never 500."""

from __future__ import annotations

import pytest

from accounts.actor import Actor
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


def test_list_filters_by_status_and_text(api, synced):
    synced.set("lead-2", "status", "CONTACTED")
    lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL)

    body = api.get("/api/v1/leads").json()
    assert body["count"] == 3
    first = body["items"][0]
    assert first["sheet_id"] == "lead-1" and first["task_status"] == "todo" and first["synced_at"]
    assert [x["sheet_id"] for x in api.get("/api/v1/leads", {"status": "CONTACTED"}).json()["items"]] == ["lead-2"]
    assert [x["sheet_id"] for x in api.get("/api/v1/leads", {"q": "person3@"}).json()["items"]] == ["lead-3"]


@pytest.mark.parametrize(
    "query", [{"status": "MAYBE"}, {"limit": "0"}, {"limit": "abc"}, {"statuss": "NEW"}, {"q": "x" * 201}]
)
def test_list_rejects_bad_queries_with_422(api, synced, query):
    response = api.get("/api/v1/leads", query)
    assert response.status_code == 422
    assert response.json()["error_code"] == "VALIDATION_ERROR"


def test_get_one_and_404(api, synced):
    lead = Lead.objects.get(sheet_id="lead-1")
    assert api.get(f"/api/v1/leads/{lead.pk}").json()["task_id"] == str(lead.task_id)
    missing = api.get("/api/v1/leads/999999")
    assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"
    assert api.get("/api/v1/leads/0").status_code == 422
    assert api.get("/api/v1/leads/abc").status_code == 422


def test_patch_status_moves_the_task_and_reaches_the_sheet_on_the_next_sync(api, synced):
    lead = Lead.objects.get(sheet_id="lead-1")

    response = api.patch(f"/api/v1/leads/{lead.pk}", {"status": "QUALIFIED"})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "QUALIFIED" and body["task_status"] == "done" and body["pending_sync"] == ["status"]
    assert synced.get("lead-1", "status") == "NEW"
    lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL)
    assert synced.get("lead-1", "status") == "QUALIFIED"
    assert api.get(f"/api/v1/leads/{lead.pk}").json()["pending_sync"] == []


@pytest.mark.parametrize(
    "payload",
    [
        {"status": "WON"},
        {"email": "nope"},
        {"name": ""},
        {"name": None},
        {"status": None},
        {"colour": "red"},
        {"name": "x" * 256},
        {"name": "bad\u0000"},
    ],
)
def test_patch_rejects_bad_input_with_422(api, synced, payload):
    lead = Lead.objects.get(sheet_id="lead-1")
    response = api.patch(f"/api/v1/leads/{lead.pk}", payload)
    assert response.status_code == 422, response.content
    assert Lead.objects.get(pk=lead.pk).status == "NEW"


def test_patch_body_that_is_not_json_is_a_422(api, synced):
    lead = Lead.objects.get(sheet_id="lead-1")
    response = api.client.patch(
        f"/api/v1/leads/{lead.pk}", data="{oops", content_type="application/json", **api.headers
    )
    assert response.status_code in (400, 422)
    assert "error_code" in response.json()


def test_create_lead_appends_it_on_the_next_sync(api, synced):
    response = api.post("/api/v1/leads", {"name": "Zed", "email": "zed@example.com", "status": "CONTACTED"})

    assert response.status_code == 201
    assert response.json()["sheet_id"] == "lead-4" and response.json()["task_status"] == "in_progress"
    assert api.post("/api/v1/leads", {"name": "Dup", "sheet_id": "lead-4"}).status_code == 409
    lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL)
    assert synced.get("lead-4", "name") == "Zed" and synced.structural_writes == 1
    assert synced.tags()["lead-4"] == "lead-4"


def test_sync_dry_run_returns_the_plan_and_writes_nothing(api, synced):
    synced.set("lead-1", "status", "LOST")
    runs = SyncRun.objects.count()

    response = api.post("/api/v1/leads/sync", {"dry_run": True})

    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True and body["mode"] == "live"
    (item,) = body["items"]
    assert item["sheet_id"] == "lead-1"
    assert {"side": "tracker", "field": "status", "from": "NEW", "to": "LOST"}.items() <= item["changes"][0].items()
    assert Lead.objects.get(sheet_id="lead-1").status == "NEW"
    assert SyncRun.objects.count() == runs


def test_sync_returns_202_with_the_run_id(api, synced, django_capture_on_commit_callbacks):
    synced.set("lead-3", "status", "QUALIFIED")

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/leads/sync", {"initial": False})

    assert response.status_code == 202
    run = SyncRun.objects.get(pk=response.json()["run_id"])
    assert run.connector == "google_sheets" and run.trigger == "api"
    assert run.status == SyncRun.Status.SUCCEEDED  # SYNC_JOBS_INLINE in the tests
    assert Lead.objects.get(sheet_id="lead-3").task.status == "done"


@pytest.mark.parametrize("payload", [{"dry_run": "yes"}, {"initial": 1}, {"force": True}, [1]])
def test_sync_rejects_bad_bodies(api, synced, payload):
    response = api.post("/api/v1/leads/sync", payload)
    assert response.status_code == 422


def test_sync_dry_run_reports_an_unreadable_sheet_as_502(api, synced):
    synced.fail("GET", "/v4/", 404)
    response = api.post("/api/v1/leads/sync", {"dry_run": True})
    assert response.status_code == 502 and response.json()["error_code"] == "EXTERNAL_API_ERROR"


def test_conflict_inbox_lists_and_resolves(api, synced):
    synced.set("lead-1", "status", "CONTACTED")
    lead = Lead.objects.get(sheet_id="lead-1")
    task_update(task=lead.task, actor=Actor.system_job("t"), status="done")
    lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL, rule="review")

    items = api.get("/api/v1/leads/conflicts").json()["items"]
    assert len(items) == 1 and items[0]["field"] == "status"
    conflict_id = items[0]["id"]
    assert api.post(f"/api/v1/leads/conflicts/{conflict_id}/resolve", {"side": "both"}).status_code == 422
    resolved = api.post(f"/api/v1/leads/conflicts/{conflict_id}/resolve", {"side": "sheet"})
    assert resolved.status_code == 200 and resolved.json()["resolution"] == "sheet"
    assert api.post(f"/api/v1/leads/conflicts/{conflict_id}/resolve", {"side": "sheet"}).status_code == 409
    assert api.post("/api/v1/leads/conflicts/999999/resolve", {"side": "sheet"}).status_code == 404
    assert api.get("/api/v1/leads/conflicts").json()["count"] == 0
    assert api.get("/api/v1/leads/conflicts", {"state": "all"}).json()["count"] == 1
    assert LeadConflict.objects.get().resolution == "sheet"


def test_api_needs_a_key(anon_api, synced):
    assert anon_api.get("/api/v1/leads").status_code == 401
    assert anon_api.post("/api/v1/leads/sync", {"dry_run": True}).status_code == 401
