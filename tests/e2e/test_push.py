"""Web Push in a real Chromium: "Enable push on this device", a reminder delivered through the
product's pywebpush code to a local push service, shown by the product's service worker.

Chromium's own `pushManager.subscribe()` registers with Google's push service, which this
machine cannot reach. So that one call is replaced in the page: it makes the device's key pair
and auth secret with the browser's WebCrypto, exactly as a browser does, and returns a
subscription whose endpoint is the local push service (tasks/tests/push_fake.py). Everything
else is real: the settings page and its script, the service worker's registration, the API
call, the encryption and VAPID signature, and the service worker showing the message (handed
to it over the DevTools protocol, as a push service would hand it to the browser).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone
from playwright.sync_api import expect
from pytest_httpserver import HTTPServer

from tasks.models import Notification, PushSubscription
from tasks.push import vapid_keys_generate
from tasks.reminders import due_soon_run, notifications_deliver
from tasks.tests.factories import TaskFactory
from tasks.tests.push_fake import Device, PushService

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

VAPID_PUBLIC, VAPID_PRIVATE = vapid_keys_generate()
HOUR = dt.timedelta(hours=1)

# Stands in for the browser vendor's registration (see the module docstring).
FAKE_SUBSCRIBE = """
(() => {
  const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  let current = null;
  PushManager.prototype.getSubscription = async function () { return current; };
  PushManager.prototype.subscribe = async function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    if (key.length !== 65 || key[0] !== 4) throw new DOMException("bad applicationServerKey", "InvalidAccessError");
    const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
    const p256dh = b64(await crypto.subtle.exportKey("raw", pair.publicKey));
    const auth = b64(crypto.getRandomValues(new Uint8Array(16)));
    const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
    const endpoint = window.__PUSH_ENDPOINT__;
    // Kept across the page's reload after subscribing, for the test to read.
    localStorage.setItem("pushDevice", JSON.stringify({ d: jwk.d, auth: auth, serverKey: b64(key) }));
    const json = { endpoint: endpoint, expirationTime: null, keys: { p256dh, auth } };
    current = { endpoint: endpoint, toJSON: () => json };
    return current;
  };
})();
"""


def _unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.fixture
def push_service(settings: Any) -> Iterator[PushService]:
    settings.WEBPUSH_VAPID_PUBLIC_KEY = VAPID_PUBLIC
    settings.WEBPUSH_VAPID_PRIVATE_KEY = VAPID_PRIVATE
    settings.WEBPUSH_SUBJECT = "mailto:ops@example.com"
    settings.WEBPUSH_ALLOW_LOOPBACK_HTTP = True
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield PushService(server, vapid_public_key=VAPID_PUBLIC)
    finally:
        server.clear()
        server.stop()


def test_enable_push_then_a_reminder_arrives_and_a_gone_device_is_dropped(
    demo_login: Any, live_server: Any, push_service: PushService, settings: Any
) -> None:
    settings.SITE_URL = live_server.url
    page = demo_login
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    page.add_init_script(f"window.__PUSH_ENDPOINT__ = {json.dumps(push_service.endpoint('chromium'))};")
    page.add_init_script(FAKE_SUBSCRIBE)

    page.goto(f"{live_server.url}/settings/notifications/")
    assert "No device has push on yet." in page.locator("#push-devices").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Enable push on this device").click()
    expect(page.locator("#push-devices")).to_contain_text("Chrome on Linux")

    # The device's private key and auth secret never leave the browser in real life; the local
    # push service needs them to read the message as the browser would.
    device_keys = json.loads(page.evaluate("localStorage.getItem('pushDevice')"))
    assert device_keys["serverKey"] == VAPID_PUBLIC  # subscribed with the server's VAPID key
    private = ec.derive_private_key(int.from_bytes(_unb64(device_keys["d"]), "big"), ec.SECP256R1())
    push_service.devices["chromium"] = Device(private_key=private, auth_secret=_unb64(device_keys["auth"]))
    subscription = PushSubscription.objects.get()
    assert subscription.user.username == "eve" and subscription.endpoint == push_service.endpoint("chromium")

    now = timezone.now()
    task = TaskFactory(title="Confirm the booth size", assignee=subscription.user, due_at=now + 3 * HOUR)
    assert due_soon_run(now=now) == 1
    notifications_deliver(now=now)
    assert push_service.refused == []
    assert len(push_service.deliveries) == 1
    payload = push_service.deliveries[0].payload
    assert payload["title"] == "Due soon: Confirm the booth size"
    assert payload["url"] == f"{live_server.url}/tasks/{task.pk}/"

    # The service worker shows it: hand the decrypted message to it as the browser would.
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.active !== null)")
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 15
    while not [r for r in registrations if r["scopeURL"].startswith(live_server.url)]:
        assert time.monotonic() < deadline, f"no service worker registration reported: {registrations}"
        page.wait_for_timeout(50)
    registration = next(r for r in registrations if r["scopeURL"].startswith(live_server.url))
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": live_server.url, "registrationId": registration["registrationId"], "data": json.dumps(payload)},
    )
    page.wait_for_function(
        "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(list => list.length > 0)"
    )
    shown = page.evaluate(
        "navigator.serviceWorker.ready.then(r => r.getNotifications())"
        ".then(list => list.map(n => ({title: n.title, body: n.body, url: n.data && n.data.url})))"
    )
    assert shown[0]["title"] == "Due soon: Confirm the booth size"
    assert shown[0]["url"] == payload["url"]

    # The push service says the subscription is gone: it is removed, and the page shows it.
    push_service.answer["chromium"] = 410
    TaskFactory(title="Print the badges", assignee=subscription.user, due_at=now + 4 * HOUR)
    assert due_soon_run(now=now) == 1
    notifications_deliver(now=now)
    assert not PushSubscription.objects.exists()
    assert Notification.objects.get(task__title="Print the badges").push_state == "skipped"
    page.reload()
    expect(page.locator("#push-devices")).to_contain_text("No device has push on yet.")
    assert re.search(r"Enable push on this device", page.content())
