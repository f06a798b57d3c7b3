from __future__ import annotations

import pytest

from integrations.models import ConnectorState, SyncRecordError, SyncRun
from sponsors.models import Sponsor
from sponsors.tests.factories import SponsorFactory
from tasks.models import Task
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_admin_pages_render(staff_web):
    sponsor = SponsorFactory()
    run = SyncRun.objects.create(connector="asana", scope=sponsor.sync_scope, sponsor=sponsor, status="partial")
    SyncRecordError.objects.create(run=run, message="bad record", external_id="1")
    ConnectorState.objects.create(connector="asana", scope=sponsor.sync_scope, cursor="x")

    for url in (
        "/admin/sponsors/sponsor/",
        f"/admin/sponsors/sponsor/{sponsor.pk}/change/",
        "/admin/integrations/syncrun/",
        f"/admin/integrations/syncrun/{run.pk}/change/",
        "/admin/integrations/connectorstate/",
    ):
        assert staff_web.get(url).status_code == 200, url
    assert "bad record" in staff_web.get(f"/admin/integrations/syncrun/{run.pk}/change/").content.decode()


def test_deleting_in_the_admin_keeps_manual_tasks(staff_web):
    sponsor = SponsorFactory()
    TaskFactory(sponsor=sponsor, source="asana", external_id="1")
    manual = TaskFactory(sponsor=sponsor)

    response = staff_web.post(f"/admin/sponsors/sponsor/{sponsor.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302 and not Sponsor.objects.exists()
    assert list(Task.objects.values_list("pk", "sponsor_id")) == [(manual.pk, None)]
