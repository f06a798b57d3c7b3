"""/api/v1/notifications and /api/v1/me/preferences, and the dashboard's notifications and
notification-settings pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEvent, UserPreference
from tasks.models import Notification
from tasks.notifications import notification_send
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)


def notify(user: Any, key: str, *, minutes: int = 0, **kwargs: Any) -> Notification:
    kwargs.setdefault("kind", "mention")
    kwargs.setdefault("message", f"Message {key}")
    assert notification_send(recipient=user, dedupe_key=key, now=T0 + dt.timedelta(minutes=minutes), **kwargs)
    return Notification.objects.get(dedupe_key=key)


def test_list_shows_only_my_notifications_newest_first(api: Any, user: Any, other_user: Any) -> None:
    task = TaskFactory(title="Sign the deal")
    notify(user, "a", minutes=1, kind="due_soon", task=task, message="“Sign the deal” is due in 2 hours")
    notify(user, "b", minutes=2, kind="campaign_alert", message="CTR fell by half", url="/campaigns/7/")
    notify(other_user, "c", minutes=3)

    response = api.get("/api/v1/notifications")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["unread_count"] == 2
    assert [i["message"] for i in body["items"]] == ["CTR fell by half", "“Sign the deal” is due in 2 hours"]
    first, second = body["items"]
    assert first["kind"] == "campaign_alert" and first["url"] == "/campaigns/7/" and first["task_id"] is None
    assert second["task_id"] == str(task.pk) and second["task_title"] == "Sign the deal"
    assert second["read"] is False and second["read_at"] is None


def test_unread_filter_and_pagination(api: Any, user: Any) -> None:
    for i in range(5):
        notify(user, f"n{i}", minutes=i)
    read = Notification.objects.get(dedupe_key="n0")
    assert api.post(f"/api/v1/notifications/{read.pk}/read").status_code == 200

    unread = api.get("/api/v1/notifications", {"unread": "true"}).json()
    assert unread["count"] == 4 and all(not i["read"] for i in unread["items"])
    assert api.get("/api/v1/notifications", {"unread": "false"}).json()["count"] == 1
    page = api.get("/api/v1/notifications", {"limit": 2, "offset": 2}).json()
    assert page["count"] == 5 and [i["message"] for i in page["items"]] == ["Message n2", "Message n1"]
    assert api.get("/api/v1/notifications", {"limit": 0}).status_code == 422
    assert api.get("/api/v1/notifications", {"unread": "maybe"}).status_code == 422


def test_mark_read_is_idempotent_and_private(api: Any, user: Any, other_user: Any) -> None:
    mine = notify(user, "mine")
    theirs = notify(other_user, "theirs")

    first = api.post(f"/api/v1/notifications/{mine.pk}/read")
    assert first.status_code == 200 and first.json()["read"] is True
    again = api.post(f"/api/v1/notifications/{mine.pk}/read")
    assert again.json()["read_at"] == first.json()["read_at"]

    for target in (theirs.pk, 987654321, 2**63 - 1, 2**64, 0, -1):
        response = api.post(f"/api/v1/notifications/{target}/read")
        assert response.status_code == 404, target
        assert response.json()["error_code"] == "NOT_FOUND"
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_read_all(api: Any, user: Any, other_user: Any) -> None:
    for i in range(3):
        notify(user, f"u{i}")
    notify(other_user, "o")
    response = api.post("/api/v1/notifications/read-all")
    assert response.status_code == 200 and response.json() == {"marked": 3}
    assert api.post("/api/v1/notifications/read-all").json() == {"marked": 0}
    assert Notification.objects.get(dedupe_key="o").read_at is None
    assert api.get("/api/v1/notifications").json()["unread_count"] == 0


def test_needs_authentication(anon_api: Any) -> None:
    for method, path in (
        ("get", "/api/v1/notifications"),
        ("post", "/api/v1/notifications/1/read"),
        ("post", "/api/v1/notifications/read-all"),
        ("get", "/api/v1/me/preferences"),
        ("patch", "/api/v1/me/preferences"),
    ):
        response = getattr(anon_api, method)(path, {} if method != "get" else None)
        assert response.status_code == 401, path
        assert response.json()["error_code"] == "UNAUTHORIZED"


def test_session_auth_needs_csrf_for_writes(user: Any) -> None:
    notify(user, "x")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/notifications").status_code == 200
    assert client.post("/api/v1/notifications/read-all").status_code == 403


# --- preferences -----------------------------------------------------------------------------


def test_get_preferences_gives_defaults(api: Any, user: Any) -> None:
    body = api.get("/api/v1/me/preferences").json()
    assert body["time_zone"] == "UTC"
    assert body["quiet_start"] is None and body["quiet_end"] is None
    assert body["reminder_lead_minutes"] == 24 * 60
    assert body["stale_after_minutes"] == 7 * 24 * 60
    assert (body["in_app"], body["email"], body["webhook"], body["digest"]) == (True, True, False, False)
    # Reading the defaults stores nothing: a GET never writes.
    assert UserPreference.objects.filter(user=user).count() == 0


def test_patch_preferences(api: Any, user: Any) -> None:
    response = api.patch(
        "/api/v1/me/preferences",
        {
            "time_zone": "America/New_York",
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "reminder_lead_minutes": 90,
            "stale_after_minutes": 3 * 24 * 60,
            "email": False,
            "digest": True,
            "webhook": True,
            "webhook_url": "https://hooks.example.com/t",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["time_zone"] == "America/New_York"
    assert (body["quiet_start"], body["quiet_end"]) == ("22:00:00", "07:00:00")
    assert body["reminder_lead_minutes"] == 90 and body["email"] is False and body["digest"] is True
    assert body["webhook"] is True and len(body["webhook_secret"]) >= 32
    pref = UserPreference.objects.get(user=user)
    assert pref.reminder_lead == dt.timedelta(minutes=90) and pref.stale_after == dt.timedelta(days=3)
    assert AuditEvent.objects.filter(action="preference.update", origin="api").count() == 1

    # Only what is sent changes; quiet hours can be cleared.
    body = api.patch("/api/v1/me/preferences", {"quiet_start": None, "quiet_end": None}).json()
    assert body["quiet_start"] is None and body["time_zone"] == "America/New_York"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": None}, "time_zone"),
        ({"quiet_start": "22:00"}, "quiet_end"),
        ({"quiet_start": "08:00", "quiet_end": "08:00"}, "quiet_end"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "quiet_start"),
        ({"quiet_start": "22:00+02:00", "quiet_end": "07:00"}, "quiet_start"),
        ({"reminder_lead_minutes": 0}, "reminder_lead_minutes"),
        ({"reminder_lead_minutes": 10**12}, "reminder_lead_minutes"),
        ({"stale_after_minutes": 5}, "stale_after_minutes"),
        ({"webhook": True}, "webhook_url"),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"webhook_url": "https://x.example.com/\x00"}, "webhook_url"),
        ({"webhook_url": "http://[::1"}, "webhook_url"),
        ({"webhook_url": "http://example.com:99999/"}, "webhook_url"),
        ({"webhook_url": "https://"}, "webhook_url"),
        ({"webhook_secret": "short"}, "webhook_secret"),
        ({"email": "yes please"}, "email"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_patch_preferences_rejects_bad_input(api: Any, user: Any, payload: dict[str, Any], field: str) -> None:
    response = api.patch("/api/v1/me/preferences", payload)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert any(field in err["loc"] for err in body["detail"]), body
    assert api.get("/api/v1/me/preferences").json()["time_zone"] == "UTC"


# --- dashboard pages -------------------------------------------------------------------------


def test_notifications_page_lists_and_marks_read(web: Client, user: Any, other_user: Any) -> None:
    task = TaskFactory(title="Order the banners")
    notify(user, "t", kind="overdue", task=task, message="“Order the banners” is overdue")
    notify(user, "m", message="bob mentioned you")
    notify(other_user, "secret", message="not for alice")

    page = web.get("/notifications/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "“Order the banners” is overdue" in html and "bob mentioned you" in html
    assert "not for alice" not in html
    assert f"/tasks/{task.pk}/" in html

    n = Notification.objects.get(dedupe_key="m")
    response = web.post(f"/notifications/{n.pk}/read/", {"next": "/notifications/?show=unread"})
    assert response.status_code == 302 and response["Location"] == "/notifications/?show=unread"
    unread = web.get("/notifications/?show=unread").content.decode()
    assert "bob mentioned you" not in unread and "Order the banners" in unread

    theirs = Notification.objects.get(dedupe_key="secret")
    assert web.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    assert web.post(f"/notifications/{n.pk}/read/", {"next": "https://evil.example.com/"})["Location"] == (
        "/notifications/"
    )

    assert web.post("/notifications/read-all/").status_code == 302
    assert Notification.objects.filter(recipient=user, read_at__isnull=True).count() == 0
    assert "You are all caught up" in web.get("/notifications/?show=unread").content.decode()


def test_notifications_page_empty_state_and_login(web: Client, client: Client) -> None:
    assert "No notifications yet" in web.get("/notifications/").content.decode()
    web.logout()
    assert web.get("/notifications/").status_code == 302


def test_preferences_page_saves(web: Client, user: Any) -> None:
    page = web.get("/settings/notifications/")
    assert page.status_code == 200
    assert 'name="time_zone"' in page.content.decode()
    form = {
        "time_zone": "Europe/Berlin",
        "quiet_start": "21:30",
        "quiet_end": "06:45",
        "reminder_lead_hours": "2.5",
        "stale_after_days": "3",
        "notify_in_app": "on",
        "notify_webhook": "on",
        "webhook_url": "https://hooks.example.com/in",
    }
    response = web.post("/settings/notifications/", form)
    assert response.status_code == 302
    pref = UserPreference.objects.get(user=user)
    assert pref.time_zone == "Europe/Berlin"
    assert (pref.quiet_start, pref.quiet_end) == (dt.time(21, 30), dt.time(6, 45))
    assert pref.reminder_lead == dt.timedelta(hours=2, minutes=30) and pref.stale_after == dt.timedelta(days=3)
    assert pref.notify_in_app and not pref.notify_email and pref.notify_webhook
    secret = pref.webhook_secret
    assert secret and secret in web.get("/settings/notifications/").content.decode()

    web.post("/settings/notifications/", {**form, "regenerate_secret": "on"})
    pref.refresh_from_db()
    assert pref.webhook_secret and pref.webhook_secret != secret


def test_preferences_page_shows_errors(web: Client, user: Any) -> None:
    response = web.post(
        "/settings/notifications/",
        {"time_zone": "Europe/Berlin", "quiet_start": "21:30", "reminder_lead_hours": "2", "stale_after_days": "3"},
    )
    assert response.status_code == 400
    assert "Give both the start and the end of quiet hours" in response.content.decode()
    response = web.post(
        "/settings/notifications/",
        {"time_zone": "Nowhere", "reminder_lead_hours": "-1", "stale_after_days": "3"},
    )
    assert response.status_code == 400
    assert not UserPreference.objects.filter(user=user).exclude(time_zone="UTC").exists()


def test_the_header_bell_shows_the_unread_count(user: Any, rf: Any) -> None:
    from django.template.loader import render_to_string

    from tasks.context_processors import notifications

    request = rf.get("/")
    request.user = user
    html = render_to_string("tasks/partials/notification_bell.html", notifications(request))
    assert "none unread" in html
    for i in range(3):
        notify(user, f"b{i}")
    html = render_to_string("tasks/partials/notification_bell.html", notifications(request))
    assert "3 unread" in html and 'href="/notifications/"' in html
    for i in range(3, 101):
        notify(user, f"b{i}")
    assert "99+" in render_to_string("tasks/partials/notification_bell.html", notifications(request))
