from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from integrations.models import SyncRun
from integrations.tests.fakes import ACCOUNT
from sponsors.models import Sponsor
from sponsors.tests.factories import SponsorFactory
from tasks.models import Task
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_list_shows_sponsors_with_counts_and_an_empty_state(web):
    response = web.get("/sponsors/")
    assert response.status_code == 200 and "No sponsors yet" in response.content.decode()

    sponsor = SponsorFactory(name="Acme <Corp>")
    TaskFactory(sponsor=sponsor)
    html = web.get("/sponsors/").content.decode()
    assert "Acme &lt;Corp&gt;" in html and f"/sponsors/{sponsor.pk}/" in html
    assert "No sponsor matches" in web.get("/sponsors/", {"q": "zzz"}).content.decode()


def test_create_edit_and_refuse_a_duplicate_name(web):
    response = web.post(
        "/sponsors/new/",
        {"name": "Acme", "contact_email": "a@acme.test", "salesforce_account_id": ACCOUNT, "is_active": "on"},
    )
    sponsor = Sponsor.objects.get(name="Acme")
    assert response.status_code == 302 and response["Location"] == f"/sponsors/{sponsor.pk}/"
    assert AuditEvent.objects.filter(action="sponsor.create", origin="web").exists()

    duplicate = web.post("/sponsors/new/", {"name": "ACME"})
    assert duplicate.status_code == 200 and "already exists" in duplicate.content.decode()
    bad = web.post("/sponsors/new/", {"name": "Other", "asana_project_gid": "not digits"})
    assert bad.status_code == 200 and "digits only" in bad.content.decode()

    response = web.post(f"/sponsors/{sponsor.pk}/edit/", {"name": "Acme Ltd", "asana_project_gid": "123"})
    assert response.status_code == 302
    sponsor.refresh_from_db()
    assert (sponsor.name, sponsor.asana_project_gid, sponsor.is_active, sponsor.salesforce_account_id) == (
        "Acme Ltd",
        "123",
        False,
        "",
    )


def test_delete_asks_for_confirmation_then_deletes(web):
    sponsor = SponsorFactory(name="Gone")
    TaskFactory(sponsor=sponsor, source="salesforce", external_id="00T1")
    manual = TaskFactory(sponsor=sponsor)

    page = web.get(f"/sponsors/{sponsor.pk}/delete/").content.decode()
    assert (
        "Delete Gone?" in page and "<strong>1</strong> task pulled" in page and "<strong>1</strong> other task" in page
    )
    assert Sponsor.objects.filter(pk=sponsor.pk).exists()

    response = web.post(f"/sponsors/{sponsor.pk}/delete/")
    assert response.status_code == 302 and not Sponsor.objects.filter(pk=sponsor.pk).exists()
    assert Task.objects.filter(pk=manual.pk, sponsor=None).exists() and Task.objects.count() == 1


def test_sponsor_page_is_a_360_view(web, no_credentials):
    sponsor = SponsorFactory(name="Acme", google_calendar_id="")
    TaskFactory(sponsor=sponsor, source="salesforce", external_id="00T1", status="todo", due_at="2000-01-01T00:00:00Z")
    TaskFactory(sponsor=sponsor, source="asana", external_id="1", status="done")
    SyncRun.objects.create(
        connector="salesforce", scope=sponsor.sync_scope, sponsor=sponsor, status="failed", error="x"
    )

    html = web.get(f"/sponsors/{sponsor.pk}/").content.decode()

    assert "Acme" in html and "Data fresh as of" in html
    assert "Salesforce" in html and "Asana" in html and "Map to Google Calendar" in html
    assert "Demo" in html and "Pull now" in html and "Failed" in html
    assert "/sync/runs/" in html
    assert web.get("/sponsors/424242/").status_code == 404


def test_pull_now_queues_runs_and_the_page_shows_progress(
    web, no_credentials, settings, django_capture_on_commit_callbacks
):
    settings.SYNC_JOBS_INLINE = True
    sponsor = SponsorFactory(asana_project_gid="", google_calendar_id="")

    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(f"/sponsors/{sponsor.pk}/sync/")

    assert response.status_code == 302
    run = SyncRun.objects.get(sponsor=sponsor)
    assert (run.trigger, run.status) == ("manual", "succeeded") and run.created > 0
    assert Task.objects.filter(sponsor=sponsor, source="salesforce").count() == run.created
    partial = web.get(f"/sponsors/{sponsor.pk}/", {"partial": "sync"}).content.decode()
    assert "Succeeded" in partial and "hx-trigger" not in partial, "no polling once nothing runs"
    assert web.get(f"/sponsors/{sponsor.pk}/sync/").status_code == 405


def test_data_fresh_as_of_tag(db):
    from django.template import Context, Template
    from django.utils import timezone

    from integrations.models import ConnectorState

    sponsor = SponsorFactory()
    pulled = TaskFactory(sponsor=sponsor, source="asana", external_id="5")
    manual = TaskFactory(sponsor=sponsor)
    template = Template("{% load sponsor_sync %}[{% data_fresh_as_of task %}]")

    assert "not pulled yet" in template.render(Context({"task": pulled}))
    ConnectorState.objects.create(connector="asana", scope=sponsor.sync_scope, last_success_at=timezone.now())
    html = template.render(Context({"task": pulled}))
    assert "Data fresh as of" in html and "from Asana" in html and "now" in html
    assert template.render(Context({"task": manual})) == "[]"
    assert "Data fresh as of" in Template("{% load sponsor_sync %}{% data_fresh_as_of %}").render(Context({}))
