"""Web Push: subscriptions through the API and the settings page, and delivery through the real
pywebpush code to a local push service that checks VAPID and decrypts each payload with the
device's keys (tasks/tests/push_fake.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from pytest_httpserver import HTTPServer

from accounts.actor import Actor
from accounts.models import AuditEvent
from accounts.preferences import preference_update
from tasks.models import Notification, PushSubscription
from tasks.notifications import notification_send
from tasks.push import vapid_keys_generate
from tasks.reminders import digests_send, due_soon_run, notifications_deliver
from tasks.tests.factories import TaskFactory
from tasks.tests.push_fake import Device, PushService

pytestmark = pytest.mark.django_db

UTC = dt.UTC
H = dt.timedelta(hours=1)
T0 = dt.datetime(2025, 1, 15, 9, 0, tzinfo=UTC)
SUBSCRIPTIONS = "/api/v1/me/push-subscriptions"
VAPID_PUBLIC, VAPID_PRIVATE = vapid_keys_generate()


@pytest.fixture
def push_keys(settings: Any) -> None:
    settings.WEBPUSH_VAPID_PUBLIC_KEY = VAPID_PUBLIC
    settings.WEBPUSH_VAPID_PRIVATE_KEY = VAPID_PRIVATE
    settings.WEBPUSH_SUBJECT = "mailto:ops@example.com"
    settings.WEBPUSH_ALLOW_LOOPBACK_HTTP = True
    settings.SITE_URL = "https://tracker.example.com"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def service(push_keys: None) -> Iterator[PushService]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield PushService(server, vapid_public_key=VAPID_PUBLIC)
    finally:
        server.clear()
        server.stop()


def subscribe(user: Any, service: PushService, name: str = "phone") -> PushSubscription:
    device = service.device(name)
    subscription = PushSubscription.objects.create(
        user=user, endpoint=service.endpoint(name), p256dh=device.p256dh, auth=device.auth, name=f"Test {name}"
    )
    return subscription


def remind(user: Any, *, title: str = "Send the logo files", now: dt.datetime = T0) -> Notification:
    task = TaskFactory(title=title, assignee=user, due_at=now + 5 * H)
    assert due_soon_run(now=now) == 1
    return Notification.objects.get(recipient=user, task=task)


# --- delivery --------------------------------------------------------------------------------


def test_a_reminder_reaches_the_device_encrypted_with_its_title_and_link(user: Any, service: PushService) -> None:
    subscription = subscribe(user, service)
    n = remind(user)
    assert n.push_state == "pending"

    report = notifications_deliver(now=T0)

    assert service.refused == []
    assert len(service.deliveries) == 1
    delivery = service.deliveries[0]
    # Only the device's keys decrypt it: the push service in between sees ciphertext.
    assert delivery.payload["title"] == "Due soon: Send the logo files"
    assert delivery.payload["url"] == f"https://tracker.example.com/tasks/{n.task_id}/"
    assert "Send the logo files" in delivery.payload["body"]
    assert (delivery.urgency, delivery.ttl) == ("high", 24 * 3600)
    n.refresh_from_db()
    assert (n.push_state, n.delivered_at) == ("sent", T0)
    assert report.pushes == 1
    subscription.refresh_from_db()
    assert subscription.last_used_at is not None and subscription.last_error == ""


def test_every_device_of_the_person_gets_it(user: Any, other_user: Any, service: PushService) -> None:
    subscribe(user, service, "phone")
    subscribe(user, service, "laptop")
    subscribe(other_user, service, "bobs-phone")
    remind(user)
    notifications_deliver(now=T0)
    assert sorted(d.path for d in service.deliveries) == ["/push/laptop", "/push/phone"]


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_removed(user: Any, service: PushService, status: int) -> None:
    subscribe(user, service, "old")
    kept = subscribe(user, service, "new")
    service.answer["old"] = status
    n = remind(user)
    notifications_deliver(now=T0)
    assert list(PushSubscription.objects.filter(user=user)) == [kept]
    assert [d.path for d in service.deliveries] == ["/push/new"]
    n.refresh_from_db()
    assert n.push_state == "sent"


def test_when_the_only_device_is_gone_push_is_skipped(user: Any, service: PushService) -> None:
    subscribe(user, service)
    service.answer["phone"] = 410
    n = remind(user)
    notifications_deliver(now=T0)
    n.refresh_from_db()
    assert (n.push_state, n.push_attempts) == ("skipped", 0)
    assert not PushSubscription.objects.exists()


def test_a_failing_push_service_is_retried_with_backoff(user: Any, service: PushService) -> None:
    subscription = subscribe(user, service)
    service.answer["phone"] = 503
    n = remind(user)
    notifications_deliver(now=T0)
    n.refresh_from_db()
    assert (n.push_state, n.push_attempts) == ("pending", 1)
    assert "503" in n.last_error
    subscription.refresh_from_db()
    assert "503" in subscription.last_error

    del service.answer["phone"]
    notifications_deliver(now=T0 + dt.timedelta(seconds=30))  # still backing off
    assert service.deliveries == []
    notifications_deliver(now=T0 + 2 * dt.timedelta(minutes=1))
    n.refresh_from_db()
    assert n.push_state == "sent" and len(service.deliveries) == 1
    subscription.refresh_from_db()
    assert subscription.last_error == ""


def test_an_unreachable_push_service_is_retried(user: Any, push_keys: None, settings: Any) -> None:
    device = Device()  # nothing listens on port 9 (discard): the connection is refused
    PushSubscription.objects.create(
        user=user, endpoint="http://127.0.0.1:9/push/x", p256dh=device.p256dh, auth=device.auth, name="x"
    )
    settings.WEBPUSH_TIMEOUT = 2
    n = remind(user)
    notifications_deliver(now=T0)
    n.refresh_from_db()
    assert (n.push_state, n.push_attempts) == ("pending", 1)
    assert "unreachable" in n.last_error


def test_quiet_hours_hold_the_push_until_they_end(user: Any, service: PushService) -> None:
    subscribe(user, service)
    preference_update(
        user=user, actor=Actor.system_job("tests"), quiet_start=dt.time(8, 0), quiet_end=dt.time(10, 0)
    )  # 09:00 UTC is inside
    n = remind(user)
    notifications_deliver(now=T0)
    assert service.deliveries == []
    notifications_deliver(now=T0 + dt.timedelta(minutes=59))
    assert service.deliveries == []
    notifications_deliver(now=T0 + H)
    assert len(service.deliveries) == 1
    n.refresh_from_db()
    assert n.push_state == "sent"


def test_digest_users_get_one_push_a_day(user: Any, service: PushService, settings: Any) -> None:
    settings.DIGEST_HOUR = 8
    subscribe(user, service)
    preference_update(user=user, actor=Actor.system_job("tests"), digest=True)
    first = remind(user, title="First", now=T0)
    second = remind(user, title="Second", now=T0 + H)
    notifications_deliver(now=T0 + H)
    assert service.deliveries == []
    assert {first.pk, second.pk} == set(Notification.objects.filter(push_state="digest").values_list("pk", flat=True))

    assert digests_send(now=T0 + 24 * H) == 1  # 09:00 the next day, after DIGEST_HOUR
    notifications_deliver(now=T0 + 24 * H)
    assert len(service.deliveries) == 1
    assert service.deliveries[0].payload["title"] == "Daily digest"
    assert service.deliveries[0].urgency == "low"


def test_push_turned_off_in_the_preferences_sends_nothing(user: Any, service: PushService) -> None:
    subscribe(user, service)
    preference_update(user=user, actor=Actor.system_job("tests"), notify_push=False)
    n = remind(user)
    notifications_deliver(now=T0)
    n.refresh_from_db()
    assert n.push_state == "skipped" and service.deliveries == []


def test_without_vapid_keys_push_is_off(user: Any) -> None:
    notification_send(recipient=user, kind="mention", message="Hi", dedupe_key="k1")
    n = Notification.objects.get()
    assert n.push_state == "skipped"


# --- API ---------------------------------------------------------------------------------------


def browser_subscription(service: PushService, name: str = "chrome") -> dict[str, Any]:
    device = service.device(name)
    return {
        "endpoint": service.endpoint(name),
        "expirationTime": None,
        "keys": {"p256dh": device.p256dh, "auth": device.auth},
    }


def test_api_subscribe_list_and_remove(api: Any, user: Any, other_user: Any, service: PushService) -> None:
    body = browser_subscription(service)
    created = api.post(SUBSCRIPTIONS, body, HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile")
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "Chrome on Android"
    # The same browser subscribing again updates its row instead of adding one.
    again = api.post(SUBSCRIPTIONS, {**body, "name": "My phone"})
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]

    listed = api.get(SUBSCRIPTIONS).json()
    assert listed["count"] == 1 and listed["push_enabled"] is True and listed["vapid_public_key"] == VAPID_PUBLIC
    assert listed["items"][0]["name"] == "My phone"
    assert listed["items"][0]["endpoint_host"] == "127.0.0.1"
    assert "endpoint" not in listed["items"][0] and "auth" not in str(listed["items"][0])

    other = PushSubscription.objects.create(
        user=other_user, endpoint="https://push.example.net/x", p256dh=body["keys"]["p256dh"], auth="a", name="Bob's"
    )
    assert api.delete(f"{SUBSCRIPTIONS}/{other.pk}").status_code == 404
    assert api.delete(f"{SUBSCRIPTIONS}/{created.json()['id']}").status_code == 204
    assert list(PushSubscription.objects.all()) == [other]
    actions = list(AuditEvent.objects.filter(action__startswith="push_subscription").values_list("action", flat=True))
    assert sorted(actions) == ["push_subscription.create", "push_subscription.delete", "push_subscription.update"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"endpoint": "http://push.example.com/x"}, "endpoint"),
        ({"endpoint": "https://169.254.169.254/latest/meta-data"}, "not a browser push service"),
        ({"endpoint": "https://intranet.example.com/push"}, "not a browser push service"),
        ({"endpoint": "https://evilfcm.googleapis.com.example.net/x"}, "not a browser push service"),
        ({"endpoint": "javascript:alert(1)"}, "endpoint"),
        ({"keys": {"p256dh": "short", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "p256dh"),
        ({"keys": {"p256dh": None, "auth": "x"}}, "p256dh"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_api_rejects_bad_subscriptions(api: Any, service: PushService, change: dict[str, Any], where: str) -> None:
    body = {**browser_subscription(service), **change}
    response = api.post(SUBSCRIPTIONS, body)
    assert response.status_code == 422, response.content
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert where in str(response.json()["detail"])
    assert not PushSubscription.objects.exists()


def test_the_browser_vendors_push_services_are_accepted(api: Any, service: PushService) -> None:
    keys = browser_subscription(service)["keys"]
    for endpoint in (
        "https://fcm.googleapis.com/fcm/send/abc:APA91b",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://web.push.apple.com/QGuQ",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
    ):
        assert api.post(SUBSCRIPTIONS, {"endpoint": endpoint, "keys": keys}).status_code == 201, endpoint


def test_a_redirect_from_the_push_service_is_not_followed_and_its_body_not_shown(
    user: Any, service: PushService
) -> None:
    elsewhere = []
    service.server.expect_request("/elsewhere").respond_with_handler(lambda r: elsewhere.append(r) or "")
    subscription = subscribe(user, service, "moved")
    service.redirect["moved"] = service.origin + "/elsewhere"
    n = remind(user)
    notifications_deliver(now=T0)
    assert elsewhere == []
    n.refresh_from_db()
    assert n.push_state == "pending" and "redirect" in n.last_error
    service.answer["moved"] = 500  # with a body the person must not be shown
    notifications_deliver(now=T0 + H)
    subscription.refresh_from_db()
    assert subscription.last_error == "Push service answered HTTP 500"


def test_api_says_when_push_is_not_set_up(api: Any) -> None:
    response = api.post(SUBSCRIPTIONS, {"endpoint": "https://push.example.com/x", "keys": {"p256dh": "a", "auth": "b"}})
    assert response.status_code == 409
    assert response.json()["error_code"] == "PUSH_NOT_CONFIGURED"
    assert api.get(SUBSCRIPTIONS).json()["push_enabled"] is False


def test_api_needs_a_key_or_session(anon_api: Any) -> None:
    assert anon_api.get(SUBSCRIPTIONS).status_code == 401


def test_preferences_api_has_the_push_channel(api: Any, user: Any) -> None:
    assert api.get("/api/v1/me/preferences").json()["push"] is True
    assert api.patch("/api/v1/me/preferences", {"push": False}).json()["push"] is False
    assert api.patch("/api/v1/me/preferences", {"push": None}).status_code == 422


# --- pages, service worker, manifest, command --------------------------------------------------


def test_settings_page_offers_push_and_lists_devices(web: Client, user: Any, service: PushService) -> None:
    subscription = subscribe(user, service)
    page = web.get("/settings/notifications/").content.decode()
    assert "Enable push on this device" in page
    assert f'data-vapid-key="{VAPID_PUBLIC}"' in page
    assert "Test phone" in page and "no push yet" in page

    response = web.post(f"/settings/notifications/devices/{subscription.pk}/remove/")
    assert response.status_code == 302
    assert not PushSubscription.objects.exists()
    assert web.post(f"/settings/notifications/devices/{subscription.pk}/remove/").status_code == 404


def test_settings_page_says_when_push_is_not_set_up(web: Client) -> None:
    page = web.get("/settings/notifications/").content.decode()
    assert "Push notifications are not set up on this server" in page
    assert "generate_vapid_keys" in page
    assert "Enable push on this device" not in page


def test_service_worker_and_manifest_are_served_to_anyone(client: Client) -> None:
    worker = client.get("/service-worker.js")
    assert worker.status_code == 200
    assert worker["Content-Type"].startswith("application/javascript")
    assert worker["Service-Worker-Allowed"] == "/"
    body = worker.content.decode()
    assert 'addEventListener("push"' in body and "notificationclick" in body and "openWindow" in body

    manifest = client.get("/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest["Content-Type"] == "application/manifest+json"
    data = manifest.json()
    assert data["display"] == "standalone" and data["start_url"] == "/"
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in data["icons"]}


def test_generated_vapid_keys_sign_pushes_the_service_accepts(
    user: Any, service: PushService, settings: Any, capsys: Any
) -> None:
    call_command("generate_vapid_keys")
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    settings.WEBPUSH_VAPID_PUBLIC_KEY = lines["WEBPUSH_VAPID_PUBLIC_KEY"]
    settings.WEBPUSH_VAPID_PRIVATE_KEY = lines["WEBPUSH_VAPID_PRIVATE_KEY"]
    service.vapid_public_key = lines["WEBPUSH_VAPID_PUBLIC_KEY"]
    subscribe(user, service)
    remind(user)
    notifications_deliver(now=T0)
    assert service.refused == [] and len(service.deliveries) == 1
