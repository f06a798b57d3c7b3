"""The Connections admin: the label is the one editable field, and its change is audited; the
status moves only through the services (Disconnect here is the audited service too)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEvent
from integrations.models import Connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_web(client: Client, staff_user: Any) -> Client:
    client.force_login(staff_user)  # staff_user is a superuser
    return client


def _connection() -> Connection:
    connection = Connection(platform="asana", label="Old name", auth="token", account_id="1199999999999001")
    connection.set_secrets({"access_token": "2/1200-personal-access-token"})
    connection.save()
    return connection


def test_the_status_cannot_be_edited_and_a_label_change_is_audited(admin_web):
    connection = _connection()
    url = f"/admin/integrations/connection/{connection.pk}/change/"
    assert 'name="status"' not in admin_web.get(url).content.decode()

    response = admin_web.post(url, {"label": "New name", "status": "disabled", "_save": "Save"})

    assert response.status_code == 302, response.content.decode()[:2000]
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.label == "New name" and stored.status == "connected"
    assert stored.access_token == "2/1200-personal-access-token"
    event = AuditEvent.objects.get(action="connection.relabel", object_id=str(connection.pk))
    assert event.changes == {"label": ["Old name", "New name"]} and event.origin == "admin"


def test_saving_without_a_change_records_nothing(admin_web):
    connection = _connection()
    url = f"/admin/integrations/connection/{connection.pk}/change/"

    assert admin_web.post(url, {"label": "Old name", "_save": "Save"}).status_code == 302

    assert not AuditEvent.objects.filter(object_id=str(connection.pk), action__startswith="connection.").exists()


def test_the_disconnect_action_goes_through_the_audited_service(admin_web):
    connection = _connection()  # a pasted token: nothing to revoke at the platform

    response = admin_web.post(
        "/admin/integrations/connection/",
        {"action": "disconnect", "_selected_action": [str(connection.pk)]},
        follow=True,
    )

    assert "1 connection(s) disconnected." in response.content.decode()
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.status == "disabled" and stored.secrets_encrypted == ""
    assert AuditEvent.objects.filter(action="connection.disconnect", object_id=str(connection.pk)).count() == 1
