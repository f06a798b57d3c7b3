from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from integrations.models import SyncRun
from integrations.tests.fakes import ACCOUNT, PROJECT, serve_salesforce, sf_id, sf_task
from sponsors.models import Sponsor
from sponsors.tests.factories import SponsorFactory
from tasks.models import Task
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_create_sponsor_returns_201_and_is_audited(api):
    response = api.post(
        "/api/v1/sponsors",
        {"name": "  Acme   Corp ", "contact_email": "deals@acme.test", "salesforce_account_id": ACCOUNT},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Acme Corp" and body["salesforce_account_id"] == ACCOUNT and body["is_active"] is True
    assert (body["task_count"], body["open_count"], body["overdue_count"]) == (0, 0, 0)
    event = AuditEvent.objects.get(action="sponsor.create")
    assert event.object_id == str(body["id"]) and event.origin == "api" and event.actor_label.startswith("alice")


def test_duplicate_name_is_a_409_conflict_case_insensitively(api):
    SponsorFactory(name="Acme")
    response = api.post("/api/v1/sponsors", {"name": "ACME"})
    assert response.status_code == 409
    assert response.json()["error_code"] == "CONFLICT"
    assert Sponsor.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("salesforce_account_id", "001' OR 1=1"),
        ("asana_project_gid", "abc"),
        ("google_calendar_id", "has space"),
        ("contact_email", "not-an-email"),
        ("name", "   "),
        ("name", "a\x00b"),
        ("unknown", "x"),
    ],
)
def test_bad_input_is_a_422_with_the_field(api, field, value):
    response = api.post("/api/v1/sponsors", {"name": "Acme", field: value})
    assert response.status_code == 422
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert any(field in err["loc"] for err in body["detail"])


def test_list_get_patch(api):
    a = SponsorFactory(name="Beta")
    SponsorFactory(name="Alpha", is_active=False)
    TaskFactory(sponsor=a, status="todo")
    TaskFactory(sponsor=a, status="done")

    listing = api.get("/api/v1/sponsors").json()
    assert [s["name"] for s in listing["items"]] == ["Alpha", "Beta"] and listing["count"] == 2
    assert api.get("/api/v1/sponsors", {"is_active": "true"}).json()["count"] == 1
    assert api.get("/api/v1/sponsors", {"q": "alp"}).json()["items"][0]["name"] == "Alpha"

    detail = api.get(f"/api/v1/sponsors/{a.pk}").json()
    assert (detail["task_count"], detail["open_count"]) == (2, 1)
    assert detail["tasks_by_source"] == {"manual": {"todo": 1, "in_progress": 0, "done": 1}}
    assert [s["source"] for s in detail["sync"]] == ["salesforce", "asana", "google_calendar"]

    patched = api.patch(f"/api/v1/sponsors/{a.pk}", {"contact_email": "new@beta.test", "asana_project_gid": None})
    assert patched.status_code == 200
    assert patched.json()["contact_email"] == "new@beta.test" and patched.json()["asana_project_gid"] == ""
    assert api.patch(f"/api/v1/sponsors/{a.pk}", {"name": "alpha"}).status_code == 409
    assert api.patch(f"/api/v1/sponsors/{a.pk}", {"name": None}).status_code == 422
    assert api.get("/api/v1/sponsors/999999").status_code == 404
    assert api.get("/api/v1/sponsors/0").status_code == 422


def test_delete_takes_pulled_tasks_and_unlinks_manual_ones(api):
    sponsor = SponsorFactory()
    pulled = TaskFactory(sponsor=sponsor, source="salesforce", external_id=sf_id(1))
    manual = TaskFactory(sponsor=sponsor, source="manual")
    other = TaskFactory(sponsor=SponsorFactory(), source="asana", external_id="1")

    response = api.delete(f"/api/v1/sponsors/{sponsor.pk}")

    assert response.status_code == 204
    assert not Task.objects.filter(pk=pulled.pk).exists()
    manual.refresh_from_db()
    assert manual.sponsor_id is None
    assert Task.objects.filter(pk=other.pk).exists()
    event = AuditEvent.objects.get(action="sponsor.delete")
    assert event.changes["pulled_tasks_deleted"] == [1, None] and event.changes["tasks_unlinked"] == [1, None]
    assert api.delete(f"/api/v1/sponsors/{sponsor.pk}").status_code == 404


def test_sponsor_tasks_lists_its_tasks_and_hides_removed_ones_by_default(api):
    sponsor = SponsorFactory()
    TaskFactory(sponsor=sponsor, title="Mine")
    gone = TaskFactory(sponsor=sponsor, title="Gone", source="asana", external_id="9")
    Task.objects.filter(pk=gone.pk).update(removed_at="2030-01-01T00:00:00Z")
    TaskFactory(title="Not mine")

    body = api.get(f"/api/v1/sponsors/{sponsor.pk}/tasks").json()
    assert [t["title"] for t in body["items"]] == ["Mine"] and body["count"] == 1
    body = api.get(f"/api/v1/sponsors/{sponsor.pk}/tasks", {"include_removed": "true"}).json()
    assert {t["title"] for t in body["items"]} == {"Mine", "Gone"}
    assert next(t for t in body["items"] if t["title"] == "Gone")["removed_at"] is not None


def test_sync_now_returns_202_with_run_ids_and_the_runs_finish(
    api, settings, live_salesforce, django_capture_on_commit_callbacks
):
    settings.SYNC_JOBS_INLINE = True
    sponsor = SponsorFactory(asana_project_gid="", google_calendar_id="")
    serve_salesforce(live_salesforce, [[sf_task(sf_id(1)), sf_task(sf_id(2))]])

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/sponsors/{sponsor.pk}/sync")

    assert response.status_code == 202, response.content
    body = response.json()
    assert len(body["run_ids"]) == 1 and body["runs"][0]["connector"] == "salesforce"
    run = SyncRun.objects.get(pk=body["run_ids"][0])
    assert (run.status, run.trigger, run.created, run.sponsor_id) == ("succeeded", "api", 2, sponsor.pk)
    detail = api.get(f"/api/v1/sync/runs/{run.pk}").json()
    assert detail["status"] == "succeeded" and detail["created"] == 2


def test_sync_now_of_an_unmapped_sponsor_is_a_409(api):
    sponsor = SponsorFactory(salesforce_account_id="", asana_project_gid="", google_calendar_id="")
    assert api.post(f"/api/v1/sponsors/{sponsor.pk}/sync").status_code == 409
    mapped = SponsorFactory(asana_project_gid=PROJECT, salesforce_account_id="", google_calendar_id="")
    response = api.post(f"/api/v1/sponsors/{mapped.pk}/sync", {"sources": ["salesforce"]})
    assert response.status_code == 409 and "salesforce" in response.json()["detail"]


def test_a_second_sync_request_returns_the_run_already_queued(api, django_capture_on_commit_callbacks):
    sponsor = SponsorFactory(asana_project_gid="", google_calendar_id="")
    with django_capture_on_commit_callbacks(execute=False):
        first = api.post(f"/api/v1/sponsors/{sponsor.pk}/sync").json()
        second = api.post(f"/api/v1/sponsors/{sponsor.pk}/sync").json()
    assert first["run_ids"] == second["run_ids"] and second["runs"][0]["queued"] is True
    assert SyncRun.objects.count() == 1


def test_anonymous_clients_get_401(anon_api):
    assert anon_api.get("/api/v1/sponsors").status_code == 401
    assert anon_api.post("/api/v1/sponsors", {"name": "x"}).status_code == 401


def test_unknown_query_parameters_are_refused(api):
    sponsor = SponsorFactory()
    assert api.get("/api/v1/sponsors", {"bogus": "1"}).status_code == 422
    assert api.get(f"/api/v1/sponsors/{sponsor.pk}/tasks", {"": "x"}).status_code == 422
    assert api.get("/api/v1/sync/runs", {"sponsor": "1"}).status_code == 422


def test_a_sponsor_has_an_owner_by_username(api, user, other_user):
    created = api.post("/api/v1/sponsors", {"name": "Acme", "owner": user.username})
    assert created.status_code == 201, created.content
    sponsor_id = created.json()["id"]
    assert created.json()["owner"] == user.username

    moved = api.patch(f"/api/v1/sponsors/{sponsor_id}", {"owner": other_user.username})
    assert moved.status_code == 200 and moved.json()["owner"] == other_user.username
    event = AuditEvent.objects.filter(action="sponsor.update").latest("id")
    assert event.changes["owner"] == [user.username, other_user.username]

    unknown = api.patch(f"/api/v1/sponsors/{sponsor_id}", {"owner": "nobody"})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"][-1] == "owner"
    cleared = api.patch(f"/api/v1/sponsors/{sponsor_id}", {"owner": None})
    assert cleared.status_code == 200 and cleared.json()["owner"] is None
    assert Sponsor.objects.get(pk=sponsor_id).owner is None
