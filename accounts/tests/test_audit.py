"""The audit trail: every API write and every failed login is recorded; staff can read it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.actor import Actor
from accounts.models import AuditEvent
from accounts.services import api_key_create
from conftest import ApiClient
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks"


def only_event(action: str) -> AuditEvent:
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, events
    return events[0]


def assert_from_api(event: AuditEvent, user: Any) -> None:
    assert event.actor_label == "alice (key tests)"
    assert event.actor_user == user
    assert event.api_key_name == "tests"
    assert event.origin == "api"
    assert event.ip == "127.0.0.1"
    assert event.object_type == "tasks.task"


def test_api_create_update_move_delete_are_audited(api: ApiClient, user: Any) -> None:
    task = api.post(TASKS, {"title": "Audited", "priority": "high"}).json()
    create = only_event("task.create")
    assert_from_api(create, user)
    assert create.object_id == task["id"] and create.object_repr == "Audited"
    assert create.changes["title"] == [None, "Audited"]
    assert create.changes["priority"] == [None, "high"]

    api.patch(f"{TASKS}/{task['id']}", {"title": "Audited again", "status": "in_progress"})
    update = only_event("task.update")
    assert_from_api(update, user)
    assert update.changes["title"] == ["Audited", "Audited again"]
    assert update.changes["status"] == ["todo", "in_progress"]

    neighbour = TaskFactory(status="done")
    api.post(f"{TASKS}/{task['id']}/move", {"before_id": str(neighbour.pk)})
    move = only_event("task.move")
    assert_from_api(move, user)
    assert move.changes["status"] == ["in_progress", "done"]
    assert move.changes["position"][1] < neighbour.position

    api.delete(f"{TASKS}/{task['id']}")
    delete = only_event("task.delete")
    assert_from_api(delete, user)
    assert delete.object_id == task["id"]
    assert delete.changes["title"] == ["Audited again", None]


def test_failed_writes_are_not_audited(api: ApiClient) -> None:
    api.post(TASKS, {"title": ""})
    api.patch(f"{TASKS}/{TaskFactory().pk}", {"status": "nope"})
    assert not AuditEvent.objects.filter(action__startswith="task.").exists()


def test_failed_login_on_the_login_page_is_audited(client: Client, user: Any) -> None:
    response = client.post("/accounts/login/", {"login": "alice", "password": "wrong-password"})

    assert response.status_code == 200  # the form again, with an error
    event = only_event("login.failed")
    assert event.object_repr == "alice"
    assert event.changes == {"username": [None, "alice"]}
    assert event.origin == "web" and event.actor_user is None
    assert "wrong-password" not in str(event.changes)


def test_failed_login_through_the_admin_is_audited(client: Client, staff_user: Any) -> None:
    # The admin login is wrapped by allauth (secure_admin_login): it sends people to allauth's
    # login page, which keeps its rate limits and MFA for the admin too.
    response = client.post("/admin/login/?next=/admin/", {"username": "sam", "password": "wrong"})
    assert response.status_code == 302
    login_url = response["Location"]
    assert login_url.startswith("/accounts/login/")

    response = client.post(login_url, {"login": "sam", "password": "wrong"})

    assert response.status_code == 200
    event = only_event("login.failed")
    assert event.object_repr == "sam"
    assert not client.get("/admin/").wsgi_request.user.is_authenticated


def test_successful_login_is_not_a_failure(client: Client, user: Any) -> None:
    response = client.post("/accounts/login/", {"login": "alice", "password": "pw-alice-123!"})
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="login.failed").exists()


def test_audit_list_is_staff_only(api: ApiClient, web: Client) -> None:
    for response in (api.get("/api/v1/audit"), web.get("/api/v1/audit")):
        assert response.status_code == 403
        assert response.json()["error_code"] == "FORBIDDEN"


def test_audit_list_for_staff(api: ApiClient, staff_user: Any) -> None:
    task = api.post(TASKS, {"title": "Seen by staff"}).json()
    api.patch(f"{TASKS}/{task['id']}", {"title": "Seen twice"})
    _, staff_key = api_key_create(user=staff_user, name="ops", actor=Actor.system_job("tests"))
    staff = ApiClient(staff_key)

    body = staff.get("/api/v1/audit").json()
    assert body["count"] == AuditEvent.objects.count()
    assert [e["action"] for e in body["items"]][:3] == ["api_key.create", "task.update", "task.create"]

    filtered = staff.get("/api/v1/audit", {"object_id": task["id"]}).json()
    assert filtered["count"] == 2
    first = filtered["items"][0]
    assert first["actor"] == "alice (key tests)" and first["api_key_name"] == "tests"
    assert first["origin"] == "api" and first["changes"] == {"title": ["Seen by staff", "Seen twice"]}
    assert staff.get("/api/v1/audit", {"action": "task.create"}).json()["count"] == 1
    assert staff.get("/api/v1/audit", {"action": "a\x00"}).status_code == 422


def test_audit_trail_cannot_be_changed_through_the_api(staff_user: Any) -> None:
    _, key = api_key_create(user=staff_user, name="ops", actor=Actor.system_job("tests"))
    staff = ApiClient(key)
    for method in ("post", "put", "patch", "delete"):
        response = getattr(staff, method)("/api/v1/audit")
        assert response.status_code == 405
        assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"


def test_audit_never_fails_on_unstorable_text(user: Any) -> None:
    from django.contrib.auth.signals import user_login_failed

    from accounts.services import audit_record

    event = audit_record(
        actor=Actor(origin="sync", system="importer\x00"),
        action="task.update",
        object_type="tasks.task",
        object_id="x\x00",
        object_repr="bad\x00title\ud800",
        changes={"title\x00": ("a\x00", "b\udcff"), "data": (None, {"k\x00": ["v\x00"]})},
    )
    event.refresh_from_db()
    assert "\x00" not in event.object_repr + event.actor_label + str(event.changes)
    assert event.changes["title\ufffd"][0] == "a\ufffd"

    user_login_failed.send(sender=__name__, credentials={"username": "ev\x00il"}, request=None)
    assert AuditEvent.objects.get(action="login.failed").object_repr == "ev\ufffdil"
