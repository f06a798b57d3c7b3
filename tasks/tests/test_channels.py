"""Webhook and email channels against real receivers: a local HTTP server on 127.0.0.1 that checks
the HMAC signature, fails, then recovers; Django's locmem email backend."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from accounts.actor import Actor
from accounts.models import UserPreference
from accounts.preferences import preference_for, preference_update
from tasks.channels import webhook_signature
from tasks.delivery import notifications_deliver
from tasks.models import Notification
from tasks.notifications import notification_send
from tasks.reminders import due_soon_run
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
MIN = dt.timedelta(minutes=1)
T0 = dt.datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
SECRET = "s3cret-shared-with-the-receiver"


@pytest.fixture(scope="module")
def receiver() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture(autouse=True)
def _reset(receiver: HTTPServer, settings: Any) -> Iterator[None]:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://tracker.example.com"
    settings.WEBHOOK_TIMEOUT = 2
    receiver.clear()
    yield
    receiver.clear()


class Receiver:
    """A webhook endpoint that verifies X-Tracker-Signature and can be told to fail."""

    def __init__(self, secret: str, failures: int = 0, status: int = 500) -> None:
        self.secret = secret
        self.failures_left = failures
        self.status = status
        self.calls: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(request.headers.get("X-Tracker-Signature", ""), expected)
        self.calls.append({"valid": valid, "json": json.loads(body), "headers": dict(request.headers)})
        if not valid:
            return Response("bad signature", status=401)
        if self.failures_left:
            self.failures_left -= 1
            return Response("receiver is down", status=self.status)
        return Response("", status=204)


def hook_user(user: Any, receiver: HTTPServer, *, secret: str = SECRET, **values: Any) -> UserPreference:
    return preference_update(
        user=user,
        actor=Actor.system_job("tests"),
        notify_webhook=True,
        webhook_url=receiver.url_for("/hooks/tracker"),
        webhook_secret=secret,
        **values,
    )


def test_signed_json_reaches_the_receiver(user: Any, receiver: HTTPServer) -> None:
    hook_user(user, receiver)
    endpoint = Receiver(SECRET)
    receiver.expect_request("/hooks/tracker", method="POST").respond_with_handler(endpoint)
    task = TaskFactory(title="Confirm the booth", due_at=T0 + 3 * 60 * MIN, assignee=user)

    due_soon_run(now=T0)
    report = notifications_deliver(now=T0)

    assert report.webhooks == 1 and report.emails == 1
    assert len(endpoint.calls) == 1 and endpoint.calls[0]["valid"]
    payload = endpoint.calls[0]["json"]
    assert payload["kind"] == "due_soon"
    assert payload["recipient"] == "alice"
    assert payload["task"]["id"] == str(task.pk) and payload["task"]["title"] == "Confirm the booth"
    assert payload["task"]["url"] == f"https://tracker.example.com/tasks/{task.pk}/"
    assert endpoint.calls[0]["headers"]["X-Tracker-Event"] == "due_soon"
    n = Notification.objects.get()
    assert (n.webhook_state, n.email_state, n.in_app_state) == ("sent", "sent", "sent")
    # Idempotent: another run sends nothing.
    notifications_deliver(now=T0 + MIN)
    assert len(endpoint.calls) == 1


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"kind":"due_soon"}'
    expected = hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()
    assert webhook_signature(secret="k" * 16, body=body) == f"sha256={expected}"


def test_a_failing_receiver_is_retried_with_backoff_until_it_recovers(user: Any, receiver: HTTPServer) -> None:
    hook_user(user, receiver)
    endpoint = Receiver(SECRET, failures=2, status=503)
    receiver.expect_request("/hooks/tracker", method="POST").respond_with_handler(endpoint)
    TaskFactory(due_at=T0 + 60 * MIN, assignee=user)
    due_soon_run(now=T0)

    notifications_deliver(now=T0)  # attempt 1: 503
    n = Notification.objects.get()
    assert (n.webhook_state, n.webhook_attempts, n.email_state) == ("pending", 1, "sent")
    assert "503" in n.last_error
    assert n.next_attempt_at == T0 + MIN

    notifications_deliver(now=T0 + MIN / 2)  # backing off: no call
    assert len(endpoint.calls) == 1
    notifications_deliver(now=T0 + MIN)  # attempt 2: 503, next in 2 minutes
    n.refresh_from_db()
    assert (n.webhook_attempts, n.next_attempt_at) == (2, T0 + 3 * MIN)
    assert preference_for(user).webhook_failures == 2

    notifications_deliver(now=T0 + 3 * MIN)  # attempt 3: the receiver is back
    n.refresh_from_db()
    assert n.webhook_state == "sent" and n.delivered_at == T0 + 3 * MIN
    assert [c["valid"] for c in endpoint.calls] == [True, True, True]
    assert preference_for(user).webhook_failures == 0  # consecutive failures reset
    assert len(mail.outbox) == 1  # the email went out once, on the first run


def test_a_webhook_that_keeps_failing_is_disabled_and_the_user_told(user: Any, receiver: HTTPServer) -> None:
    hook_user(user, receiver)
    endpoint = Receiver(SECRET, failures=1000)
    receiver.expect_request("/hooks/tracker", method="POST").respond_with_handler(endpoint)
    TaskFactory(due_at=T0 + 600 * MIN, assignee=user)
    due_soon_run(now=T0)

    now = T0
    for _ in range(10):
        notifications_deliver(now=now)
        now += 61 * MIN  # past any backoff
    assert len(endpoint.calls) == 5  # WEBHOOK_DISABLE_AFTER

    pref = preference_for(user)
    assert pref.webhook_disabled_at is not None and not pref.webhook_active
    assert "500" in pref.webhook_last_error
    reminder = Notification.objects.get(kind="due_soon")
    assert reminder.webhook_state == "failed" and reminder.delivered_at is not None
    notice = Notification.objects.get(kind="webhook_disabled")
    assert notice.recipient == user and "turned off" in notice.message
    assert notice.in_app_state == "sent" and notice.webhook_state == "skipped"
    assert any("Webhook disabled" in m.subject for m in mail.outbox)

    # New notifications no longer try the webhook.
    notification_send(recipient=user, kind="mention", message="bob mentioned you", dedupe_key="m-1", now=now)
    notifications_deliver(now=now)
    assert len(endpoint.calls) == 5
    assert Notification.objects.get(kind="mention").webhook_state == "skipped"

    # Fixing the URL turns it back on.
    fixed = Receiver(SECRET)
    receiver.expect_request("/hooks/fixed", method="POST").respond_with_handler(fixed)
    preference_update(user=user, actor=Actor.system_job("tests"), webhook_url=receiver.url_for("/hooks/fixed"))
    notification_send(recipient=user, kind="mention", message="bob again", dedupe_key="m-2", now=now)
    notifications_deliver(now=now)
    assert len(fixed.calls) == 1 and fixed.calls[0]["valid"]


def test_a_receiver_with_another_secret_rejects_the_call(user: Any, receiver: HTTPServer) -> None:
    hook_user(user, receiver, secret="a-different-secret-0123456789")
    endpoint = Receiver(SECRET)
    receiver.expect_request("/hooks/tracker", method="POST").respond_with_handler(endpoint)
    notification_send(recipient=user, kind="campaign_alert", message="CTR dropped", dedupe_key="c-1", now=T0)
    notifications_deliver(now=T0)
    assert endpoint.calls[0]["valid"] is False
    n = Notification.objects.get()
    assert n.webhook_state == "pending" and "401" in n.last_error


def test_an_unreachable_receiver_fails_fast_and_is_retried(user: Any, receiver: HTTPServer) -> None:
    preference_update(
        user=user,
        actor=Actor.system_job("tests"),
        notify_webhook=True,
        webhook_url="http://127.0.0.1:9/hook",  # nothing listens on the discard port
    )
    notification_send(recipient=user, kind="sync_failed", message="Asana pull failed", dedupe_key="s-1", now=T0)
    notification_send(recipient=user, kind="sync_failed", message="Asana pull failed again", dedupe_key="s-2", now=T0)
    report = notifications_deliver(now=T0)
    # The first failure marks the URL down for this run: the second notification waits, uncounted.
    assert report.failures == 1
    attempts = sorted(Notification.objects.values_list("webhook_attempts", flat=True))
    assert attempts == [0, 1]
    assert all(n.webhook_state == "pending" for n in Notification.objects.all())


def test_email_has_text_and_html_with_the_task_link(user: Any) -> None:
    task = TaskFactory(title="Renew the\nsponsorship <deal>", due_at=T0 + 60 * MIN, assignee=user)
    preference_update(user=user, actor=Actor.system_job("tests"), time_zone="Europe/Paris")
    due_soon_run(now=T0)
    notifications_deliver(now=T0)
    email = mail.outbox[0]
    assert "\n" not in email.subject and "Renew the sponsorship <deal>" in email.subject
    link = f"https://tracker.example.com/tasks/{task.pk}/"
    assert link in email.body
    assert "12:00" in email.body and "Europe/Paris" in email.body  # 10:00 UTC is 12:00 in Paris in June
    html = email.alternatives[0][0]
    assert f'href="{link}"' in html
    assert "&lt;deal&gt;" in html and "<deal>" not in html  # task text is escaped in HTML
